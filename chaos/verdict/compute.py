"""The verdict of DESIGN section 9, as a pure function of ``Evidence`` and ``Slos``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from chaos.scenario.model import Slos
from chaos.scenario.windows import FaultWindow
from chaos.verdict._stats import nearest_rank, percentiles
from chaos.verdict.evidence import (
    ContentHash,
    DashboardRecord,
    Evidence,
    ReceivedEvent,
    SeriesPoint,
)
from chaos.verdict.result import (
    DashboardResult,
    Identity,
    Integrity,
    LatencyResult,
    Recovery,
    SloResult,
    Verdict,
)

SAMPLE = 20


def compute_verdict(evidence: Evidence, slos: Slos) -> Verdict:
    windows = [w for w in evidence.fault_windows if w.took_effect]
    integrity = _integrity(evidence)
    stored_ids = {(s.node_id, s.seq) for s in evidence.stored}
    dashboards = [_dashboard(record, stored_ids) for record in evidence.dashboards]
    latency = _latency(evidence.dashboards, windows)
    threshold = _backlog_threshold(evidence.backlog, windows, evidence.run_started_at)
    recoveries = [_recovery(w, evidence.backlog, threshold) for w in windows
                  if w.ended_at is not None]
    drain_s = None
    if evidence.drained_at is not None and evidence.generation_ended_at is not None:
        drain_s = max(0.0, evidence.drained_at - evidence.generation_ended_at)

    results = [
        _at_most("lost", integrity.lost, slos.max_lost, "detections",
                 f"{integrity.generated} generated, {integrity.stored} stored"),
        _at_most("duplicated", integrity.duplicated, slos.max_duplicated, "detections",
                 f"{integrity.stored_twice} stored twice, {integrity.altered} altered, "
                 f"{integrity.unexpected} never generated"),
    ]
    results += [_at_most(f"missing:{d.name}", d.missing, slos.max_missing, "events",
                         f"{d.unique} of {len(stored_ids)} stored detections received")
                for d in dashboards]
    results.append(_at_most("dashboard_duplicates", sum(d.duplicates for d in dashboards),
                            slos.max_dashboard_duplicates, "events",
                            "events a dashboard received more than once"))
    results.append(_at_most("out_of_order", sum(d.out_of_order for d in dashboards),
                            slos.max_out_of_order, "events",
                            "events received after a higher stream seq"))
    results.append(_delivery_slo(latency, slos, has_dashboards=bool(evidence.dashboards)))
    results.append(_drain_slo(drain_s, slos, evidence))
    if slos.recovery_max_s is not None:
        results.append(_recovery_slo(recoveries, slos.recovery_max_s, evidence.backlog))

    harness_errors = list(evidence.harness_errors)
    failed_steps = [w for w in evidence.fault_windows if w.status == "failed"]
    harness_errors += [f"step {w.step_index} ({w.kind}) {w.reason}" for w in failed_steps]
    if not evidence.generated:
        harness_errors.append("the fleet generated no detections: nothing was proven")
    return Verdict(
        passed=all(r.passed for r in results) and not harness_errors,
        slos=results, integrity=integrity, dashboards=dashboards, latency=latency,
        recoveries=recoveries, drain_s=drain_s, backlog_threshold=threshold,
        skipped=[w for w in evidence.fault_windows if w.status in ("skipped", "cancelled")],
        failed_steps=failed_steps, harness_errors=harness_errors)


def _at_most(name: str, measured: int, limit: int, unit: str, detail: str) -> SloResult:
    return SloResult(name=name, passed=measured <= limit, measured=float(measured),
                     limit=float(limit), unit=unit, detail=detail)


def _integrity(evidence: Evidence) -> Integrity:
    generated = {(g.node_id, g.seq): g.content_hash for g in evidence.generated}
    copies: Counter[Identity] = Counter()
    hashes: dict[Identity, set[ContentHash]] = {}
    for row in evidence.stored:
        key = (row.node_id, row.seq)
        copies[key] += row.copies
        hashes.setdefault(key, set()).add(row.content_hash)
    lost = sorted(set(generated) - set(copies))
    twice = sorted(key for key, n in copies.items() if n > 1)
    altered = sorted(key for key, seen in hashes.items()
                     if key in generated and seen != {generated[key]})
    unexpected = sorted(set(copies) - set(generated))
    bad = sorted(set(twice) | set(altered) | set(unexpected))
    return Integrity(generated=len(generated), stored=len(copies), lost=len(lost),
                     duplicated=len(bad), stored_twice=len(twice), altered=len(altered),
                     unexpected=len(unexpected), lost_sample=lost[:SAMPLE],
                     duplicated_sample=bad[:SAMPLE])


def _dashboard(record: DashboardRecord, stored_ids: set[Identity]) -> DashboardResult:
    seen_seqs: set[int] = set()
    seen_ids: set[Identity] = set()
    duplicates = 0
    out_of_order = 0
    highest = 0
    for event in record.events:
        identity = (event.node_id, event.seq)
        if event.stream_seq in seen_seqs or identity in seen_ids:
            duplicates += 1
            continue
        seen_seqs.add(event.stream_seq)
        seen_ids.add(identity)
        if event.stream_seq < highest:
            out_of_order += 1
        highest = max(highest, event.stream_seq)
    missing = sorted(stored_ids - seen_ids)
    return DashboardResult(name=record.name, received=len(record.events),
                           unique=len(seen_ids & stored_ids), missing=len(missing),
                           duplicates=duplicates + record.client_duplicates,
                           out_of_order=out_of_order + record.client_out_of_order,
                           reconnects=record.reconnects, missing_sample=missing[:SAMPLE])


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


def _latency(records: Sequence[DashboardRecord],
             windows: Sequence[FaultWindow]) -> LatencyResult:
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
                ms = (event.received_at - event.captured_at) * 1000.0
                e2e.append(ms)
                inside = in_fault(event.captured_at, event.received_at, windows)
                (e2e_in if inside else e2e_out).append(ms)
    return LatencyResult(delivery=percentiles(delivery),
                         delivery_inside=percentiles(delivery_in),
                         delivery_outside=percentiles(delivery_out),
                         end_to_end=percentiles(e2e), end_to_end_inside=percentiles(e2e_in),
                         end_to_end_outside=percentiles(e2e_out))


def _backlog_threshold(series: Sequence[SeriesPoint], windows: Sequence[FaultWindow],
                       run_started_at: float | None) -> float:
    """The steady-state backlog: p95 of the samples before the first fault (items in
    flight are normal); 0 when there are none. "Recovered" = back at or below it."""
    first_fault = min((w.started_at for w in windows if w.started_at is not None),
                      default=float("inf"))
    start = run_started_at if run_started_at is not None else float("-inf")
    before = sorted(p.value for p in series if start <= p.t < first_fault)
    return nearest_rank(before, 95) if before else 0.0


def _recovery(window: FaultWindow, series: Sequence[SeriesPoint],
              threshold: float) -> Recovery:
    assert window.ended_at is not None
    recovered_at = next((p.t for p in sorted(series, key=lambda p: p.t)
                         if p.t >= window.ended_at and p.value <= threshold), None)
    return Recovery(step_index=window.step_index, kind=window.kind,
                    description=window.description, fault_ended_at=window.ended_at,
                    recovered_at=recovered_at,
                    recovery_s=None if recovered_at is None else recovered_at - window.ended_at)


def _delivery_slo(latency: LatencyResult, slos: Slos, *, has_dashboards: bool) -> SloResult:
    stats = latency.delivery_outside if slos.delivery_p99_scope == "outside_faults" \
        else latency.delivery
    scope = "outside fault windows" if slos.delivery_p99_scope == "outside_faults" else "all"
    limit = slos.delivery_p99_ms
    if stats.p99 is None:
        detail = ("no dashboards in this scenario" if not has_dashboards
                  else f"no deliveries were measured ({scope})")
        return SloResult("delivery_p99", passed=not has_dashboards, measured=None,
                         limit=limit, unit="ms", detail=detail)
    return SloResult("delivery_p99", passed=stats.p99 <= limit, measured=stats.p99,
                     limit=limit, unit="ms",
                     detail=f"{scope}: {stats.count} deliveries, max {stats.max:.0f} ms")


def _drain_slo(drain_s: float | None, slos: Slos, evidence: Evidence) -> SloResult:
    limit = slos.drain_timeout_s
    if drain_s is None:
        detail = ("never drained: outboxes or dashboards still behind at the end"
                  if evidence.generation_ended_at is not None
                  else "no drain evidence (generation end not recorded)")
        return SloResult("drain", passed=False, measured=None, limit=limit, unit="s",
                         detail=detail)
    return SloResult("drain", passed=drain_s <= limit, measured=drain_s, limit=limit,
                     unit="s", detail="from the end of generation until all was delivered")


def _recovery_slo(recoveries: Sequence[Recovery], limit: float,
                  backlog: Sequence[SeriesPoint]) -> SloResult:
    if not recoveries:
        return SloResult("recovery", passed=True, measured=None, limit=limit, unit="s",
                         detail="no fault took effect")
    if not backlog:
        return SloResult("recovery", passed=False, measured=None, limit=limit, unit="s",
                         detail="no backlog samples to measure recovery from")
    never = [r for r in recoveries if r.recovery_s is None]
    if never:
        return SloResult("recovery", passed=False, measured=None, limit=limit, unit="s",
                         detail="did not recover after: "
                                + ", ".join(f"step {r.step_index} ({r.kind})" for r in never))
    worst = max(recoveries, key=lambda r: r.recovery_s or 0.0)
    assert worst.recovery_s is not None
    return SloResult("recovery", passed=worst.recovery_s <= limit, measured=worst.recovery_s,
                     limit=limit, unit="s",
                     detail=f"slowest: step {worst.step_index} ({worst.kind})")
