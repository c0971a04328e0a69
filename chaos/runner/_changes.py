"""The state changes a run's clients asked for, and its blackout cycles, from the clients'
own records: the fleet's ledger (registrations, the status changes its heartbeats made,
command acks) and the operator adapter (blackout activations and deactivations).

A request whose answer was lost (a timeout, a reset) may or may not have made its change.
The fleet records it as of unknown outcome; it counts as a change only when the audit
log holds a row that only it can explain (its action, target and actor, inside its own
request window, not claimed by a change that was answered). Likewise the heartbeat after
a silence: the backend may have marked the node offline by itself meanwhile (that sweep
writes a stream event but no audit row, see ``sentinel_backend/stream.py``), and then
that heartbeat brings it back online, which is audited as the node's own ``node.status``.
Changes the backend makes by itself therefore never appear in ``audit_rows``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.runner.adapters import BlackoutCall
from chaos.verdict.evidence import AuditRow, BlackoutRecord, StateChange
from simulator._store import CHANGE_MADE, CHANGE_UNKNOWN

__all__ = ["FleetChanges", "blackout_records", "confirm_unsure", "state_changes"]

#: Same slack as the judge's (``chaos.verdict._audit``): float rounding, not a wider window.
_SLACK_S = 0.005
_OPERATOR = "operator"


@dataclass(frozen=True)
class FleetChanges:
    """What the ledger holds, as read by ``simulator.ledger.Ledger``: ``changes`` rows
    (kind, actor, target, requested_us, answered_us, outcome) and ``command_acks`` rows
    (id, node_id, type, blackout_id, queued, requested_us, answered_us, status)."""

    changes: Sequence[tuple[str, str, str, int, int, int]]
    command_acks: Sequence[tuple[str, str, str, int | None, int | None, int, int, int]]


def blackout_records(calls: Sequence[BlackoutCall], fleet: FleetChanges,
                     log_queued: Mapping[int, int | None] | None) -> list[BlackoutRecord]:
    """One record per blackout log row the operator created: when the operator's
    activation and deactivation were answered, when the node acked ``blackout_on`` and
    ``blackout_off`` (the first ack the backend answered 200), how many detections it
    reported as held back, and what the blackout log says (``None``: not readable)."""
    first_ack: dict[tuple[int, str], tuple[float, int | None]] = {}
    for _cid, _node, ctype, bid, queued, asked_us, _ans, status in fleet.command_acks:
        if bid is not None and status == 200:
            first_ack.setdefault((bid, ctype), (asked_us / 1e6, queued))
    ended = {bid: call.answered_at for call in calls if not call.activate
             for bid, _node in call.changed}
    records = []
    for call in calls:
        if not call.activate:
            continue
        for bid, node_id in call.changed:
            on = first_ack.get((bid, "blackout_on"))
            off = first_ack.get((bid, "blackout_off"))
            records.append(BlackoutRecord(
                node_id=node_id, activated_at=call.answered_at,
                node_acked_at=None if on is None else on[0],
                deactivated_at=ended.get(bid),
                node_off_acked_at=None if off is None else off[0],
                held_back=(off[1] or 0) if off is not None else 0,
                log_queued=None if log_queued is None else log_queued.get(bid)))
    return records


def state_changes(calls: Sequence[BlackoutCall], fleet: FleetChanges,
                  audit_rows: Sequence[AuditRow] | None) -> list[StateChange]:
    """Every change the run's clients asked for; those of unknown outcome only where the
    audit log confirms them (never when it could not be read)."""
    known: list[StateChange] = []
    unsure: list[tuple[tuple[str, ...], StateChange]] = []
    for kind, actor, target, asked_us, answered_us, outcome in fleet.changes:
        change = StateChange(kind, actor, target, asked_us / 1e6, answered_us / 1e6,
                             ok=outcome == CHANGE_MADE)
        if outcome == CHANGE_UNKNOWN:
            kinds = (("node.register", "node.reregister") if kind.startswith("node.reg")
                     else (kind,))
            unsure.append((kinds, change))
        else:
            known.append(change)
    acked: set[str] = set()
    for cid, node_id, _ctype, _bid, _q, asked_us, answered_us, status in fleet.command_acks:
        change = StateChange("command.ack", f"node:{node_id}", node_id, asked_us / 1e6,
                             answered_us / 1e6)
        # Acking an acked command again is a no-op: after an ack of unknown outcome, the
        # next one may be that no-op.
        if status == 200 and cid not in acked:
            known.append(change)
        elif status == 0 or status >= 500 or status == 200:
            unsure.append((("command.ack",), change))
        acked.add(cid)
    for call in calls:
        action = "blackout.activate" if call.activate else "blackout.deactivate"
        for _bid, node_id in call.changed:
            for kind in (action, "command.create"):
                known.append(StateChange(kind, _OPERATOR, node_id, call.requested_at,
                                         call.answered_at))
    if audit_rows is None or not unsure:
        return known
    return known + confirm_unsure(known, unsure, audit_rows, grace_s=UNANSWERED_GRACE_S)


def confirm_unsure(known: Sequence[StateChange],
                   unsure: Sequence[tuple[tuple[str, ...], StateChange]],
                   rows: Sequence[AuditRow], *, grace_s: float = 0.0) -> list[StateChange]:
    """The unsure changes an audit row confirms: rows the answered changes claim first,
    then each unsure change claims one free row of its kinds inside its window (extended by
    ``grace_s`` past its give-up). Shared by the fleet runner and the Locust gate."""
    by_key: dict[tuple[str, str | None, str], list[AuditRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        by_key[(row.action, row.target, row.actor)].append(row)
    used: set[int] = set()
    for change in sorted((c for c in known if c.ok), key=lambda c: c.requested_at):
        claimed = _free_row(by_key[(change.kind, change.target, change.actor)], change, used)
        if claimed is not None:
            used.add(claimed.id)
    out: list[StateChange] = []
    for kinds, change in sorted(unsure, key=lambda u: u[1].requested_at):
        for kind in kinds:
            found = _free_row(by_key[(kind, change.target, change.actor)], change, used,
                              grace_s=grace_s)
            if found is not None:
                used.add(found.id)
                # Its effect was seen at the row's stamp: that closes its window.
                out.append(StateChange(kind, change.actor, change.target,
                                       change.requested_at,
                                       max(change.answered_at, found.at)))
                break
    return out


#: A request the client gave up on may still reach the backend later (TCP keeps
#: retransmitting what a lossy link dropped), so a row up to this long after the give-up
#: may be its doing.
UNANSWERED_GRACE_S = 30.0


def _free_row(rows: Sequence[AuditRow], change: StateChange, used: set[int],
              grace_s: float = 0.0) -> AuditRow | None:
    lo, hi = change.requested_at - _SLACK_S, change.answered_at + _SLACK_S + grace_s
    return next((r for r in rows if r.id not in used and lo <= r.at <= hi), None)
