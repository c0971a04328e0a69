"""Blackout judged from both ends: the operator's activation, the node's acknowledgement,
what the node transmitted meanwhile, and what it flushed afterwards. Blackout is not loss:
the held-back detections count once they arrive; but a node that keeps transmitting, or a
blackout its node never hears of, is a broken promise."""

from __future__ import annotations

from collections import defaultdict

from chaos.verdict.evidence import BlackoutRecord, Evidence, GeneratedDetection
from chaos.verdict.result import BlackoutResult, Identity

SAMPLE = 20


def blackout(evidence: Evidence, ack_bound_s: float) -> BlackoutResult:
    by_node: dict[str, list[GeneratedDetection]] = defaultdict(list)
    for g in evidence.generated:
        by_node[g.node_id].append(g)
    stored = {(s.node_id, s.seq) for s in evidence.stored}
    leaks: list[Identity] = []
    unacked = unflushed = 0
    worst: float | None = None
    notes: list[str] = []
    t0 = evidence.run_started_at or 0.0
    for cycle in evidence.blackouts:
        detections = by_node.get(cycle.node_id, [])
        if cycle.node_acked_at is None:
            if _long_enough(cycle, ack_bound_s, evidence.generation_ended_at):
                unacked += 1
                notes.append(f"{cycle.node_id}: blackout activated at "
                             f"+{cycle.activated_at - t0:.3f}s never acknowledged by the node")
            continue
        took = cycle.node_acked_at - cycle.activated_at
        worst = took if worst is None else max(worst, took)
        if took > ack_bound_s:
            unacked += 1
            notes.append(f"{cycle.node_id}: acknowledged blackout after {took:.1f} s "
                         f"(bound {ack_bound_s:g} s)")
        leaks += _leaks(cycle, detections)
        if cycle.deactivated_at is None:
            continue
        problem = _flush_problem(cycle, detections, stored)
        if problem:
            unflushed += 1
            notes.append(f"{cycle.node_id}: {problem}")
    leaks = sorted(set(leaks))
    if leaks:
        notes.append(f"{len(leaks)} detections transmitted during an acknowledged blackout")
    return BlackoutResult(cycles=len(evidence.blackouts), leaks=len(leaks),
                          unacknowledged=unacked, unflushed=unflushed, worst_ack_s=worst,
                          leak_sample=leaks[:SAMPLE], notes=notes[:SAMPLE])


def _long_enough(cycle: BlackoutRecord, bound: float, run_end: float | None) -> bool:
    """A blackout shorter than the bound (or activated too close to the end) cannot be
    expected to be acknowledged: not a violation."""
    end = cycle.deactivated_at if cycle.deactivated_at is not None else run_end
    return end is None or end - cycle.activated_at > bound


def _leaks(cycle: BlackoutRecord, detections: list[GeneratedDetection]) -> list[Identity]:
    """Detections the node sent while it was in an acknowledged blackout (from its ack of
    blackout_on to its ack of blackout_off); one already in flight before is not a leak."""
    assert cycle.node_acked_at is not None
    end = cycle.node_off_acked_at if cycle.node_off_acked_at is not None else float("inf")
    return [(g.node_id, g.seq) for g in detections
            if any(cycle.node_acked_at < a.at < end for a in g.attempts)]


def _flush_problem(cycle: BlackoutRecord, detections: list[GeneratedDetection],
                   stored: set[Identity]) -> str:
    if cycle.node_off_acked_at is None:
        return "blackout deactivated but the node never acknowledged blackout_off"
    assert cycle.node_acked_at is not None
    held = [(g.node_id, g.seq) for g in detections
            if g.captured_at is not None
            and cycle.node_acked_at <= g.captured_at - g.clock_skew_s
            <= cycle.node_off_acked_at]
    not_arrived = [key for key in held if key not in stored]
    if not_arrived:
        return (f"{len(not_arrived)} of {len(held)} held-back detections never arrived "
                f"after the blackout (e.g. {not_arrived[0][0]}#{not_arrived[0][1]})")
    if cycle.log_queued is not None and cycle.log_queued != cycle.held_back:
        return (f"blackout log says {cycle.log_queued} detections queued, the node held "
                f"back {cycle.held_back}")
    return ""
