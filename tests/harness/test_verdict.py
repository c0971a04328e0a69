"""The verdict on constructed evidence: clean passes; each planted flaw fails its own SLO."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from chaos.scenario import Slos
from chaos.verdict import (
    EXIT_HARNESS_ERROR,
    EXIT_PASS,
    EXIT_SLO_FAILED,
    SeriesPoint,
    StoredDetection,
    compute_verdict,
    exit_code,
    percentiles,
    read_evidence,
    write_evidence,
)

from ._evidence import (
    NODES,
    PER_NODE,
    T0,
    clean_evidence,
    window,
    with_dashboard_events,
    without_first_stored,
)

SLOS = Slos(recovery_max_s=5.0)


def failed(evidence_slos: Slos = SLOS, **changes: object) -> set[str]:
    evidence = replace(clean_evidence(), **changes)  # type: ignore[arg-type]
    return {slo.name for slo in compute_verdict(evidence, evidence_slos).failed_slos}


def test_a_clean_run_passes_every_slo() -> None:
    verdict = compute_verdict(clean_evidence(), SLOS)
    assert verdict.passed, [s for s in verdict.slos if not s.passed]
    assert exit_code(verdict) == EXIT_PASS
    names = [slo.name for slo in verdict.slos]
    assert names == ["lost", "duplicated", "ledger_gaps",
                     "missing:dash-0", "altered:dash-0", "phantom:dash-0",
                     "missing:dash-1", "altered:dash-1", "phantom:dash-1",
                     "dashboard_duplicates", "out_of_order", "acked_before_commit",
                     "delivery_p99", "drain", "recovery", "blackout_respected",
                     "blackout_flushed", "audit_missing", "audit_unexpected",
                     "audit_append_only"]
    assert verdict.integrity.generated == verdict.integrity.stored == len(NODES) * PER_NODE
    assert verdict.latency.delivery.p99 is not None
    assert abs(verdict.latency.delivery.p99 - 20.0) < 0.01


def test_one_lost_detection_fails_lost() -> None:
    verdict = compute_verdict(without_first_stored(clean_evidence()), SLOS)
    lost = next(s for s in verdict.slos if s.name == "lost")
    assert not lost.passed and lost.measured == 1 and lost.limit == 0
    assert verdict.integrity.lost_sample == [("edge-0001", 1)]
    assert exit_code(verdict) == EXIT_SLO_FAILED


def test_a_row_stored_twice_fails_duplicated() -> None:
    evidence = clean_evidence()
    stored = list(evidence.stored)
    stored[5] = replace(stored[5], copies=2)
    verdict = compute_verdict(replace(evidence, stored=stored), SLOS)
    assert {s.name for s in verdict.failed_slos} == {"duplicated"}
    assert verdict.integrity.stored_twice == 1 and verdict.integrity.duplicated == 1


def test_altered_content_counts_as_duplicated() -> None:
    evidence = clean_evidence()
    stored = list(evidence.stored)
    stored[7] = replace(stored[7], content_hash="something-else")
    key = (stored[7].node_id, stored[7].seq)
    dashboards = [replace(d, events=[replace(e, content_hash="something-else")
                                     if (e.node_id, e.seq) == key else e for e in d.events])
                  for d in evidence.dashboards]
    verdict = compute_verdict(replace(evidence, stored=stored, dashboards=dashboards), SLOS)
    assert {s.name for s in verdict.failed_slos} == {"duplicated"}
    assert verdict.integrity.altered == 1 and verdict.integrity.lost == 0


def test_an_identity_never_generated_counts_as_duplicated() -> None:
    evidence = clean_evidence()
    extra = StoredDetection("edge-0009", 1, "h-phantom")
    verdict = compute_verdict(replace(evidence, stored=[*evidence.stored, extra]), SLOS)
    assert verdict.integrity.unexpected == 1
    assert "duplicated" in {s.name for s in verdict.failed_slos}


def test_a_dashboard_missing_one_event_fails_its_own_missing_slo() -> None:
    evidence = clean_evidence()
    events = list(evidence.dashboards[1].events)
    del events[10]
    verdict = compute_verdict(with_dashboard_events(evidence, 1, events), SLOS)
    assert {s.name for s in verdict.failed_slos} == {"missing:dash-1"}
    assert [d.missing for d in verdict.dashboards] == [0, 1]


def test_dashboard_duplicates_and_out_of_order_are_counted() -> None:
    evidence = clean_evidence()
    events = list(evidence.dashboards[0].events)
    events[3], events[4] = events[4], events[3]
    events.append(events[0])
    verdict = compute_verdict(with_dashboard_events(evidence, 0, events), SLOS)
    dash = verdict.dashboards[0]
    assert (dash.duplicates, dash.out_of_order, dash.missing) == (1, 1, 0)
    assert {s.name for s in verdict.failed_slos} == {"dashboard_duplicates", "out_of_order"}


def test_a_slow_delivery_fails_p99() -> None:
    evidence = clean_evidence(dashboards=1)
    events = [replace(e, received_at=e.committed_at + 1.5) if i % 10 == 0 else e
              for i, e in enumerate(evidence.dashboards[0].events)]
    verdict = compute_verdict(with_dashboard_events(evidence, 0, events), SLOS)
    p99 = next(s for s in verdict.slos if s.name == "delivery_p99")
    assert not p99.passed and p99.measured is not None and abs(p99.measured - 1500) < 0.01
    assert p99.limit == 1000
    assert {s.name for s in verdict.failed_slos} == {"delivery_p99"}


def test_latency_is_split_by_fault_windows() -> None:
    evidence = clean_evidence(dashboards=1)
    # events committed in [5 s, 10 s) arrive 400 ms late; a fault window covers them
    events = [replace(e, received_at=e.committed_at + 0.4)
              if 5 <= e.committed_at - T0 < 10 else e
              for e in evidence.dashboards[0].events]
    evidence = replace(with_dashboard_events(evidence, 0, events),
                       fault_windows=[window(0, 5.0, 10.0)])
    latency = compute_verdict(evidence, SLOS).latency
    assert latency.delivery_inside.count == 15 and latency.delivery_outside.count == 45
    assert latency.delivery_inside.p50 is not None and latency.delivery_outside.max is not None
    assert abs(latency.delivery_inside.p50 - 400) < 0.01
    assert abs(latency.delivery_outside.max - 20) < 0.01
    assert latency.delivery.count == 60
    assert latency.end_to_end_inside.count >= 15


def test_skipped_windows_neither_shade_nor_split_latency() -> None:
    evidence = replace(clean_evidence(), fault_windows=[
        replace(window(0, 0.0, 20.0, kind="loss", status="skipped"), started_at=None,
                ended_at=None, reason="needs root")])
    verdict = compute_verdict(evidence, SLOS)
    assert verdict.passed and verdict.latency.delivery_inside.count == 0
    assert [w.reason for w in verdict.skipped] == ["needs root"]
    assert verdict.recoveries == []


def test_recovery_time_is_measured_from_fault_end_to_drained_backlog() -> None:
    evidence = clean_evidence()
    # steady backlog 1; during the fault (5 s..10 s) it grows; back to 1 at 13 s
    backlog = [SeriesPoint(T0 + t / 2, 1.0 if t / 2 < 5 or t / 2 >= 13 else 40.0)
               for t in range(60)]
    evidence = replace(evidence, backlog=backlog, fault_windows=[window(0, 5.0, 10.0)])
    verdict = compute_verdict(evidence, SLOS)
    (recovery,) = verdict.recoveries
    assert recovery.recovery_s is not None and abs(recovery.recovery_s - 3.0) < 1e-6
    assert verdict.backlog_threshold == 1.0
    slo = next(s for s in verdict.slos if s.name == "recovery")
    assert slo.passed and slo.measured == recovery.recovery_s
    slow = compute_verdict(evidence, replace(SLOS, recovery_max_s=2.0))
    assert {s.name for s in slow.failed_slos} == {"recovery"}


def test_a_backlog_that_never_drains_fails_recovery_and_drain() -> None:
    backlog = [SeriesPoint(T0 + t, 1.0 if t < 5 else 50.0) for t in range(30)]
    assert failed(backlog=backlog, fault_windows=[window(0, 5.0, 10.0)],
                  drained_at=None) == {"recovery", "drain"}


def test_a_slow_drain_fails_drain() -> None:
    assert failed(drained_at=T0 + PER_NODE + 120) == {"drain"}


def test_harness_errors_and_failed_steps_mean_exit_code_2() -> None:
    evidence = replace(clean_evidence(), fault_windows=[
        replace(window(0, 5.0, 6.0), status="failed", reason="start failed: refused")])
    verdict = compute_verdict(evidence, SLOS)
    assert not verdict.passed and exit_code(verdict) == EXIT_HARNESS_ERROR
    assert "start failed" in verdict.harness_errors[0]
    empty = replace(clean_evidence(), generated=[], stored=[], dashboards=[])
    assert exit_code(compute_verdict(empty, SLOS)) == EXIT_HARNESS_ERROR
    assert exit_code(None) == EXIT_HARNESS_ERROR


def test_percentiles_are_nearest_rank() -> None:
    stats = percentiles([float(v) for v in range(1, 101)])
    assert (stats.p50, stats.p95, stats.p99, stats.max, stats.count) == (50, 95, 99, 100, 100)
    assert percentiles([]).p99 is None


def test_no_deliveries_with_dashboards_fails_delivery() -> None:
    evidence = clean_evidence()
    evidence = replace(evidence, dashboards=[replace(d, events=[])
                                             for d in evidence.dashboards])
    verdict = compute_verdict(evidence, SLOS)
    assert "delivery_p99" in {s.name for s in verdict.failed_slos}


def test_client_side_counts_of_dropped_events_are_added() -> None:
    evidence = clean_evidence()
    dashboards = [replace(evidence.dashboards[0], client_duplicates=2, client_out_of_order=1),
                  evidence.dashboards[1]]
    verdict = compute_verdict(replace(evidence, dashboards=dashboards), SLOS)
    assert (verdict.dashboards[0].duplicates, verdict.dashboards[0].out_of_order) == (2, 1)
    assert {s.name for s in verdict.failed_slos} == {"dashboard_duplicates", "out_of_order"}


def test_evidence_round_trips_through_json(tmp_path: Path) -> None:
    evidence = replace(clean_evidence(), fault_windows=[window(0, 5.0, 10.0)],
                       harness_errors=["x"])
    again = read_evidence(write_evidence(tmp_path / "evidence.json", evidence))
    assert compute_verdict(again, SLOS) == compute_verdict(evidence, SLOS)
    assert again.fault_windows[0].started_at == T0 + 5.0


def test_delivery_scope_outside_faults_judges_only_clear_deliveries() -> None:
    evidence = clean_evidence(dashboards=1)
    events = [replace(e, received_at=e.committed_at + 3.0)
              if 5 <= e.committed_at - T0 < 10 else e
              for e in evidence.dashboards[0].events]
    evidence = replace(with_dashboard_events(evidence, 0, events),
                       fault_windows=[window(0, 5.0, 10.0, kind="toxic")])
    assert "delivery_p99" in {s.name for s in compute_verdict(evidence, SLOS).failed_slos}
    outside = compute_verdict(evidence, replace(SLOS, delivery_p99_scope="outside_faults"))
    assert outside.passed
    slo = next(s for s in outside.slos if s.name == "delivery_p99")
    assert slo.detail.startswith("outside fault windows: 45 deliveries")


def test_steps_the_run_never_reached_are_listed_as_skipped() -> None:
    cancelled = replace(window(3, 25.0, 27.0), status="cancelled", started_at=None,
                        ended_at=None, reason="the run ended before this step's start")
    verdict = compute_verdict(replace(clean_evidence(), fault_windows=[cancelled]), SLOS)
    assert verdict.passed and [w.step_index for w in verdict.skipped] == [3]
