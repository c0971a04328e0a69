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

from chaos.verdict import AuditRow, StateChange
from loadtests._evidence import CHANGE_MADE, CHANGE_UNKNOWN

__all__ = ["REGISTRATION_KINDS", "state_changes"]

REGISTRATION_KINDS = ("node.register", "node.reregister")
#: Float rounding of two stamps of one clock (the verdict's own slack), not a wider window.
_SLACK_S = 0.005


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
    return known + _confirmed(known, unsure, audit_rows)


def _inside(row: AuditRow, change: StateChange) -> bool:
    return change.requested_at - _SLACK_S <= row.at <= change.answered_at + _SLACK_S


def _confirmed(known: Sequence[StateChange], unsure: Sequence[StateChange],
               rows: Sequence[AuditRow]) -> list[StateChange]:
    """Answered changes claim their rows first; each unsure one then claims a free
    registration row of its node and actor inside its window."""
    ordered = sorted(rows, key=lambda r: r.id)
    used: set[int] = set()
    for change in sorted((c for c in known if c.ok), key=lambda c: c.requested_at):
        row = next((r for r in ordered if r.id not in used and r.action == change.kind
                    and r.target == change.target and r.actor == change.actor
                    and _inside(r, change)), None)
        if row is not None:
            used.add(row.id)
    out: list[StateChange] = []
    for change in sorted(unsure, key=lambda c: c.requested_at):
        row = next((r for r in ordered if r.id not in used and r.action in REGISTRATION_KINDS
                    and r.target == change.target and r.actor == change.actor
                    and _inside(r, change)), None)
        if row is not None:
            used.add(row.id)
            out.append(StateChange(row.action, change.actor, change.target,
                                   change.requested_at, change.answered_at))
    return out
