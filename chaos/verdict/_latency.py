"""Delivery and end-to-end latency, inside and outside fault windows, and how long the
fleet's backlog took to recover after each fault."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chaos.scenario.windows import FaultWindow
from chaos.verdict._stats import nearest_rank, percentiles
from chaos.verdict.evidence import DashboardRecord, ReceivedEvent, SeriesPoint
from chaos.verdict.result import Identity, LatencyResult, Recovery


def first_receipts(record: DashboardRecord) -> list[ReceivedEvent]:
    """Each identity's first receipt on one dashboard: what a user would have seen."""
    seen: set[Identity] = set()
    first: list[ReceivedEvent] = []
    for event in record.events:
        identity = (event.node_id, event.seq)
        if identity not in seen:
            seen.add(identity)
            first.append(event)
    return first


def in_fault(start: float, end: float, windows: Sequence[FaultWindow]) -> bool:
    return any(w.overlaps(start, end) for w in windows)


def latency(records: Sequence[DashboardRecord], windows: Sequence[FaultWindow],
            skew: Mapping[Identity, float]) -> LatencyResult:
    """``skew``: identity -> how wrong its node's clock was when it wrote ``captured_at``;
    end-to-end latency is measured from the true generation time."""
    delivery: list[float] = []
    delivery_in: list[float] = []
    delivery_out: list[float] = []
    e2e: list[float] = []
    e2e_in: list[float] = []
    e2e_out: list[float] = []
    for record in records:
        for event in first_receipts(record):
            ms = (event.received_at - event.committed_at) * 1000.0
            delivery.append(ms)
            inside = in_fault(event.committed_at, event.received_at, windows)
            (delivery_in if inside else delivery_out).append(ms)
            if event.captured_at is not None:
                born = event.captured_at - skew.get((event.node_id, event.seq), 0.0)
                ms = (event.received_at - born) * 1000.0
                e2e.append(ms)
                inside = in_fault(born, event.received_at, windows)
                (e2e_in if inside else e2e_out).append(ms)
    return LatencyResult(delivery=percentiles(delivery),
                         delivery_inside=percentiles(delivery_in),
                         delivery_outside=percentiles(delivery_out),
                         end_to_end=percentiles(e2e), end_to_end_inside=percentiles(e2e_in),
                         end_to_end_outside=percentiles(e2e_out))


def backlog_threshold(series: Sequence[SeriesPoint], windows: Sequence[FaultWindow],
                      run_started_at: float | None) -> float:
    """The steady-state backlog: p95 of the samples before the first fault (items in
    flight are normal); 0 when there are none. "Recovered" = back at or below it."""
    first_fault = min((w.started_at for w in windows if w.started_at is not None),
                      default=float("inf"))
    start = run_started_at if run_started_at is not None else float("-inf")
    before = sorted(p.value for p in series if start <= p.t < first_fault)
    return nearest_rank(before, 95) if before else 0.0


def recovery(window: FaultWindow, series: Sequence[SeriesPoint],
             threshold: float) -> Recovery:
    assert window.ended_at is not None
    recovered_at = next((p.t for p in sorted(series, key=lambda p: p.t)
                         if p.t >= window.ended_at and p.value <= threshold), None)
    return Recovery(step_index=window.step_index, kind=window.kind,
                    description=window.description, fault_ended_at=window.ended_at,
                    recovered_at=recovered_at,
                    recovery_s=None if recovered_at is None else recovered_at - window.ended_at)
