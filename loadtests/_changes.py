"""The state changes a Locust run's clients asked for, for the verdict's audit checks.

The edge users change state only by registering (``node.register`` for a new node,
``node.reregister`` when the node existed: the backend writes one audit row per answered
registration, by the enrollment principal, ``sentinel_backend/nodewrite.py``); the
Locust users neither heartbeat nor take commands, and the dashboards only read.
A registration whose answer was lost (a transport failure, a 5xx) may or may not have
been made: it counts as a change only when the audit log holds a row that only it can
explain (a registration row of its node and actor inside its own request window, not
claimed by an answered one), and never when the audit log could not be read. A refused
registration is kept with ``ok=False``: it must leave no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chaos.runner._changes import confirm_unsure
from chaos.verdict import AuditRow, StateChange
from loadtests._evidence import CHANGE_MADE, CHANGE_UNKNOWN

__all__ = ["REGISTRATION_KINDS", "state_changes"]

REGISTRATION_KINDS = ("node.register", "node.reregister")


def _rows(collected: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[StateChange, str]]:
    for _process, report in sorted(collected.items()):
        for kind, actor, target, requested, answered, outcome in report.get("changes", []):
            change = StateChange(kind=str(kind), actor=str(actor), target=str(target),
                                 requested_at=float(requested), answered_at=float(answered),
                                 ok=outcome == CHANGE_MADE)
            yield change, str(outcome)


def state_changes(collected: Mapping[str, Mapping[str, Any]],
                  audit_rows: Sequence[AuditRow] | None) -> list[StateChange]:
    """Every change the processes reported; those of unknown outcome only where an audit
    row confirms them (with the kind that row names)."""
    known: list[StateChange] = []
    unsure: list[StateChange] = []
    for change, outcome in _rows(collected):
        (unsure if outcome == CHANGE_UNKNOWN else known).append(change)
    if audit_rows is None or not unsure:
        return known
    # The window ends at the give-up (grace 0): as the gate has always judged registrations.
    return known + confirm_unsure(known, [(REGISTRATION_KINDS, c) for c in unsure], audit_rows)
