"""The Locust gate builds the verdict's Evidence from its processes' reports and is judged
by ``chaos.verdict.compute_verdict`` (pure data: what the master receives from its workers
and reads from the backend, as plain tuples)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from chaos.scenario import Slos, load_scenario_text
from chaos.scenario.windows import FaultWindow
from chaos.verdict import AuditRow, SendAttempt, SeriesPoint, StoredDetection, StreamEvent
from loadtests._gate import (
    NOT_PLAYED,
    FleetReports,
    build_evidence,
    fault_windows,
    gate_slos,
    judge_run,
    merge_backlog,
)
from loadtests._gate_report import exit_status, format_verdict, verdict_line
from loadtests._outcomes import says_duplicate, send_outcome, transport_outcome
from loadtests._timeline import FaultStep
from loadtests._toxiproxy import FaultRecord

T0 = 1_000.0  # the run's start, epoch seconds
NODES = {"n1": 3, "n2": 2}  # node -> detections generated


def _hash(node: str, seq: int) -> int:
    return hash((node, seq)) & 0xFFFF


def _generated(nodes: dict[str, int] = NODES) -> list[tuple[Any, ...]]:
    return [(node, seq, _hash(node, seq), T0 + seq, T0 + seq + 0.01, 201,
             [(T0 + seq, "201", False, False)])
            for node, count in nodes.items() for seq in range(1, count + 1)]


def _stored(nodes: dict[str, int] = NODES) -> list[StoredDetection]:
    rows, stream_seq = [], 10
    for node, count in nodes.items():
        for seq in range(1, count + 1):
            stream_seq += 1
            rows.append(StoredDetection(node, seq, _hash(node, seq), committed_at=T0 + seq,
                                        commit_ts=T0 + seq + 0.005, stream_seq=stream_seq))
    return rows


def _events(stored: list[StoredDetection], delay_s: float = 0.01) -> list[tuple[Any, ...]]:
    return [(s.stream_seq, s.node_id, s.seq, (s.committed_at or 0) + delay_s, s.committed_at,
             s.committed_at, s.content_hash) for s in stored]


def _collected(generated: list[tuple[Any, ...]] | None = None, unsent: int = 0,
               nodes: tuple[str, ...] = ("n1", "n2"),
               changes: list[tuple[Any, ...]] | None = None) -> dict[str, Any]:
    rows = _generated() if generated is None else generated
    return {"nodes": list(nodes), "generated": rows, "acked": len(rows),
            "acked_nodes": len(nodes), "unsent": unsent, "counters": {"transport_errors": 1},
            "dashboards": 1, "backlog": [[T0 + 1, 0], [T0 + 2, unsent]],
            "stopped_at": T0 + 10, "flushed_at": None if unsent else T0 + 11,
            "changes": changes if changes is not None else _registrations(nodes)}


def _registrations(nodes: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Each node registered once, answered 201, just before the run's first detection."""
    return [("node.register", "enrollment", node, T0 + 0.1, T0 + 0.2, "made")
            for node in nodes]


def _audit(nodes: tuple[str, ...] = ("n1", "n2")) -> list[AuditRow]:
    """The audit rows the backend writes for ``_registrations``."""
    return [AuditRow(i + 1, "enrollment", "node.register", node, T0 + 0.15)
            for i, node in enumerate(nodes)]


def _dash(name: str, events: list[tuple[Any, ...]], reached_at: float | None = T0 + 12,
          duplicates: int = 0) -> dict[str, Any]:
    return {"name": name, "events": events, "stream_seqs": [e[0] for e in events],
            "baseline_seq": 10, "duplicates": duplicates, "gaps": 0, "sessions": 1,
            "resumes": 0, "replayed": 0, "slow_closes": 0,
            "fatal": None, "last_seq": 15, "reached_at": reached_at}


def _reports(collected: dict[str, Any] | None = None,
             stored: list[StoredDetection] | None = None,
             dashboards: list[dict[str, Any]] | None = None,
             windows: list[FaultWindow] | None = None, errors: tuple[str, ...] = (),
             database: bool = False, audit: list[AuditRow] | None = None,
             stream: list[StreamEvent] | None = None) -> FleetReports:
    """``database``: the gate read the database (commit times, stream, audit rows)."""
    rows = _stored() if stored is None else stored
    dashes = [_dash("a", _events(_stored()))] if dashboards is None else dashboards
    if database and stream is None:
        stream = [StreamEvent(s.stream_seq or 0, "detection", s.node_id, s.seq)
                  for s in _stored()]
    return FleetReports(collected={"w1": collected or _collected()}, stored=rows,
                        drained={"w1": {"dashboards": dashes, "drain_s": 1.0}},
                        windows=windows or [], run_started_at=T0, harness_errors=errors,
                        commit_times="measured" if database else "judged from the API",
                        stream_events=stream if database else None,
                        stream_upto=15 if database else None,
                        audit_rows=(_audit() if audit is None else audit) if database else None)


def _failed(reports: FleetReports, slos: Slos | None = None) -> list[str]:
    _, verdict = judge_run(reports, slos or Slos())
    return [slo.name for slo in verdict.failed_slos]


def test_evidence_carries_every_field_from_the_reports() -> None:
    stray = StoredDetection("other-run", 1, 1, stream_seq=99)
    events = [*_events(_stored()), (99, "other-run", 1, T0, T0, None, 1)]
    evidence = build_evidence(_reports(stored=[*_stored(), stray],
                                       dashboards=[_dash("a", events)]))
    assert {(g.node_id, g.seq) for g in evidence.generated} == {
        ("n1", 1), ("n1", 2), ("n1", 3), ("n2", 1), ("n2", 2)}
    assert evidence.generated[0].captured_at == T0 + 1
    assert evidence.generated[0].acked_at == T0 + 1.01
    assert "other-run" not in {s.node_id for s in evidence.stored}  # this run's nodes only
    (record,) = evidence.dashboards
    assert record.name == "w1/a" and len(record.events) == 5  # other runs' events dropped
    assert record.events[0].captured_at == T0 + 1 and record.events[0].content_hash
    assert evidence.run_started_at == T0
    assert evidence.generation_ended_at == T0 + 10
    assert evidence.drained_at == T0 + 12  # the later of the flush and the dashboards
    assert evidence.backlog == [SeriesPoint(T0 + 1, 0), SeriesPoint(T0 + 2, 0)]
    assert evidence.fleet_counters == {"transport_errors": 1}


def test_clean_run_passes_through_compute_verdict() -> None:
    _evidence, verdict = judge_run(_reports(), Slos())
    assert verdict.passed, format_verdict(verdict)
    assert {"lost", "duplicated", "missing:w1/a", "delivery_p99", "drain"} <= {
        slo.name for slo in verdict.slos}
    assert exit_status(verdict) == 0
    text = format_verdict(verdict, "smoke")
    assert text.startswith("=== sentinel gate smoke ===")
    assert text.endswith("sentinel gate: PASS")
    assert verdict.drain_s == pytest.approx(2.0)


def test_generated_but_not_stored_is_lost_with_its_identity() -> None:
    stored = [s for s in _stored() if (s.node_id, s.seq) != ("n1", 2)]
    _, verdict = judge_run(_reports(stored=stored, dashboards=[_dash("a", _events(stored))]),
                           Slos())
    assert [slo.name for slo in verdict.failed_slos] == ["lost"]
    assert verdict.integrity.lost_sample == [("n1", 2)]
    assert "lost e.g.: n1#2" in format_verdict(verdict)
    assert verdict_line(verdict) == "sentinel gate: FAIL (lost)"
    assert exit_status(verdict) == 1


def test_left_unsent_after_the_final_flush_is_lost_and_never_drained() -> None:
    generated = [*_generated(), ("n2", 3, 7, T0 + 3, None, None, [])]  # still in an outbox
    failed = _failed(_reports(collected=_collected(generated, unsent=1)))
    assert failed == ["lost", "drain"]


def test_stored_with_other_content_is_duplicated() -> None:
    stored = [StoredDetection(s.node_id, s.seq, 12345, committed_at=s.committed_at,
                              stream_seq=s.stream_seq) if s.seq == 1 and s.node_id == "n2"
              else s for s in _stored()]
    assert "duplicated" in _failed(_reports(stored=stored))


def test_a_dashboard_missing_a_stored_detection_fails_its_own_slo() -> None:
    events = _events(_stored())
    dashes = [_dash("a", events), _dash("b", events[:-1], reached_at=None)]
    assert _failed(_reports(dashboards=dashes)) == ["missing:w1/b", "drain"]


def test_dashboard_duplicates_count() -> None:
    dashes = [_dash("a", _events(_stored()), duplicates=2)]
    assert _failed(_reports(dashboards=dashes)) == ["dashboard_duplicates"]


def test_harness_errors_fail_the_gate() -> None:
    _, verdict = judge_run(_reports(errors=("1 dashboards reported, 2 asked for",)), Slos())
    assert not verdict.failed_slos and exit_status(verdict) == 1
    assert verdict_line(verdict) == "sentinel gate: FAIL (harness)"


def test_nothing_generated_is_not_a_pass() -> None:
    reports = _reports(collected=_collected([]), stored=[], dashboards=[_dash("a", [])])
    _, verdict = judge_run(reports, Slos())
    assert exit_status(verdict) == 1
    assert any("generated no detections" in e for e in verdict.harness_errors)


def _window(start: float, end: float) -> FaultWindow:
    return FaultWindow(0, "cut", "cut on stream", "stream", 2.0, 3.0, status="applied",
                       started_at=start, ended_at=end)


def test_delivery_p99_outside_faults_ignores_slow_deliveries_inside_a_window() -> None:
    """Events committed while the stream was cut arrive seconds late: with the scope
    ``outside_faults`` that is judged only outside the window; the same slow deliveries
    outside any window fail, and with the scope ``all`` they fail too."""
    stored = _stored()  # committed at T0+1 .. T0+3
    events = sorted([*_events([s for s in stored if s.seq < 3], delay_s=3.0),  # T0+1..T0+5
                     *_events([s for s in stored if s.seq == 3])])  # fast, at T0+3
    dashes = [_dash("a", events)]
    outside = Slos(delivery_p99_scope="outside_faults")
    cut = [_window(T0 + 1.5, T0 + 2.5)]  # overlaps every slow delivery, not the fast one
    assert _failed(_reports(dashboards=dashes, windows=cut), outside) == []
    assert _failed(_reports(dashboards=dashes, windows=cut)) == ["delivery_p99"]
    elsewhere = [_window(T0 + 100, T0 + 101)]
    assert _failed(_reports(dashboards=dashes, windows=elsewhere), outside) == ["delivery_p99"]
    _, verdict = judge_run(_reports(dashboards=dashes, windows=cut), outside)
    assert verdict.latency.delivery_outside.count == 1
    assert verdict.latency.delivery_outside.p99 == pytest.approx(10.0)
    assert verdict.latency.delivery_inside.p99 == pytest.approx(3000.0)
    assert "outside fault windows" in format_verdict(verdict)


SCENARIO = """\
name: gate-windows
duration: 40s
links:
  ingest: {proxy: ingest}
  stream: {proxy: stream}
steps:
  - {at: 2s, for: 3s, link: ingest, toxic: {type: latency, attributes: {latency: 100}}}
  - {at: 6s, for: 2s, link: stream, cut: {}}
  - {at: 9s, for: 2s, link: ingest, cut: {}}
  - {at: 12s, for: 2s, kill_backend: {}}
  - {at: 30s, for: 2s, link: stream, cut: {}}
slos: {delivery_p99_scope: outside_faults, delivery_p99_ms: 500, drain_timeout_s: 20s}
"""


def test_fault_windows_from_the_played_timeline() -> None:
    scenario = load_scenario_text(SCENARIO)
    records = [
        FaultRecord(FaultStep(0, 2.0, 3.0, "ingest", "toxic"), applied_at=2.0, cleared_at=5.0,
                    applied_wall=T0 + 2, cleared_wall=T0 + 5),
        FaultRecord(FaultStep(1, 6.0, 2.0, "stream", "cut"), applied_at=6.0, cleared_at=6.5,
                    applied_wall=T0 + 6, cleared_wall=T0 + 6.5),
        FaultRecord(FaultStep(2, 9.0, 2.0, "ingest", "cut"), applied_at=9.0,
                    errors=["apply step 2: 404"]),
        FaultRecord(FaultStep(4, 30.0, 2.0, "stream", "cut")),
    ]
    windows = fault_windows(scenario, records)
    assert [(w.step_index, w.status) for w in windows] == [
        (0, "applied"), (1, "interrupted"), (2, "failed"), (3, "skipped"), (4, "cancelled")]
    assert (windows[0].started_at, windows[0].ended_at) == (T0 + 2, T0 + 5)
    assert windows[0].link == "ingest" and windows[0].kind == "toxic"
    assert windows[3].reason == NOT_PLAYED
    _, verdict = judge_run(_reports(windows=windows), gate_slos(scenario))
    assert [w.step_index for w in verdict.failed_steps] == [2]
    assert any("apply step 2: 404" in e for e in verdict.harness_errors)
    assert {w.step_index for w in verdict.skipped} == {3, 4}
    assert fault_windows(None, records) == []


def test_gate_slos_are_the_scenarios_with_command_line_overrides() -> None:
    scenario = load_scenario_text(SCENARIO)
    assert gate_slos(scenario).delivery_p99_scope == "outside_faults"
    assert gate_slos(scenario).delivery_p99_ms == 500
    overridden = gate_slos(scenario, delivery_p99_ms=2000, drain_timeout_s=5)
    assert (overridden.delivery_p99_ms, overridden.drain_timeout_s) == (2000, 5)
    assert gate_slos(None) == Slos()


def test_merge_backlog_sums_each_process_latest_sample() -> None:
    merged = merge_backlog([[[1.0, 2], [3.0, 0]], [[2.0, 5], [4.0, 1]]])
    assert [(p.t, p.value) for p in merged] == [(1.0, 2), (2.0, 7), (3.0, 5), (4.0, 1)]
    assert merge_backlog([]) == []


def _retried(node: str, seq: int, attempts: list[tuple[Any, ...]], status: int = 200
             ) -> tuple[Any, ...]:
    return (node, seq, _hash(node, seq), T0 + seq, T0 + seq + 0.5, status, attempts)


def test_send_attempts_make_a_retry_answered_as_duplicate_count_as_idempotency() -> None:
    """A batch whose answer was lost (``reset``), resent and answered ``duplicate``: the
    attempts reach the evidence, and smoke's required ``idempotency`` path was taken."""
    swallowed = [(T0 + 3, "reset", True, False), (T0 + 3.4, "200", True, True)]
    generated = [*_generated({"n1": 2, "n2": 2}), _retried("n1", 3, swallowed)]
    reports = _reports(collected=_collected(generated))
    evidence = build_evidence(reports)
    retried = next(g for g in evidence.generated if (g.node_id, g.seq) == ("n1", 3))
    assert retried.attempts == [SendAttempt(T0 + 3, "reset", True, False),
                                SendAttempt(T0 + 3.4, "200", True, True)]
    assert retried.ack_status == 200
    required = Slos(require_exercised=("idempotency",))
    _, verdict = judge_run(reports, required)
    assert verdict.passed, format_verdict(verdict)
    assert verdict.coverage is not None
    assert verdict.coverage.paths["idempotency"] == 1 and verdict.coverage.paths["ack_lost"] == 1
    # the same run without the duplicate answer never took the path
    assert _failed(_reports(), required) == ["exercised:idempotency"]


def test_overload_retries_count_from_the_attempts() -> None:
    waited = [(T0 + 3, "429", False, False), (T0 + 4, "201", False, False)]
    generated = [*_generated({"n1": 2, "n2": 2}), _retried("n1", 3, waited, status=201)]
    _, verdict = judge_run(_reports(collected=_collected(generated)), Slos())
    assert verdict.coverage is not None and verdict.coverage.paths["overload"] == 1


def test_dashboard_resumes_replays_and_slow_closes_reach_the_verdict() -> None:
    dash = {**_dash("a", _events(_stored())), "sessions": 3, "resumes": 2, "replayed": 4,
            "slow_closes": 1}
    reports = _reports(dashboards=[dash])
    (record,) = build_evidence(reports).dashboards
    assert (record.sessions, record.resumes, record.replayed, record.slow_closes) == (3, 2, 4, 1)
    assert record.reconnects == 2 and record.baseline_seq == 10
    _, verdict = judge_run(reports, Slos(require_exercised=("resume", "slow_consumer")))
    assert verdict.passed, format_verdict(verdict)
    assert "4 events replayed" in verdict.coverage.notes["resume"]  # type: ignore[union-attr]
    # reconnects that never resumed (no ?since=) are not resumes
    plain = {**dash, "resumes": 0, "replayed": 0}
    assert _failed(_reports(dashboards=[plain]), Slos(require_exercised=("resume",))) == [
        "exercised:resume"]


def _slo(reports: FleetReports, name: str) -> Any:
    _, verdict = judge_run(reports, Slos())
    return next(slo for slo in verdict.slos if slo.name == name)


def test_from_the_database_commit_times_and_the_audit_log_are_judged() -> None:
    reports = _reports(database=True)
    _, verdict = judge_run(reports, Slos())
    assert verdict.passed, format_verdict(verdict)
    acks = _slo(reports, "acked_before_commit")
    assert acks.measurable and acks.measured == 0 and acks.exercised is True
    assert "5 acks checked" in acks.detail
    audit = _slo(reports, "audit_missing")
    assert audit.measurable and audit.exercised is True
    assert "node.register 2" in audit.detail
    assert _slo(reports, "audit_append_only").measurable is False  # the runner's probe


def test_from_the_api_those_slos_say_why_they_are_not_measurable() -> None:
    reports = _reports()
    for name in ("acked_before_commit", "audit_missing", "audit_unexpected"):
        slo = _slo(reports, name)
        assert slo.passed and not slo.measurable, slo
    assert _slo(reports, "acked_before_commit").detail == (
        "not measurable: judged from the API")
    assert build_evidence(reports).stream_events is None


def test_an_ack_before_the_real_commit_fails() -> None:
    stored = [replace(s, commit_ts=T0 + s.seq + 1.0) if (s.node_id, s.seq) == ("n2", 2) else s
              for s in _stored()]  # acked at T0+2.01, its transaction committed at T0+3
    reports = _reports(stored=stored, database=True)
    assert _failed(reports) == ["acked_before_commit"]
    _, verdict = judge_run(reports, Slos())
    assert verdict.causality is not None and verdict.causality.sample == [("n2", 2)]


def test_a_registration_without_its_audit_row_and_a_row_nobody_asked_for_fail() -> None:
    assert _failed(_reports(database=True, audit=_audit(("n1",)))) == ["audit_missing"]
    stray = AuditRow(9, "operator", "node.register", "n2", T0 + 0.15)
    assert _failed(_reports(database=True, audit=[*_audit(), stray])) == ["audit_unexpected"]
    wrong_actor = [AuditRow(1, "node:n1", "node.register", "n1", T0 + 0.15), _audit()[1]]
    assert _failed(_reports(database=True, audit=wrong_actor)) == ["audit_missing"]
    late = [AuditRow(1, "enrollment", "node.register", "n1", T0 + 5.0), _audit()[1]]
    # outside its request's window: the change is missing and the row explains nothing
    assert _failed(_reports(database=True, audit=late)) == ["audit_missing",
                                                            "audit_unexpected"]


def test_a_registration_whose_answer_was_lost_counts_only_where_the_audit_log_has_it() -> None:
    """Lost answer, then a retry answered 200 (re-registration): the first attempt did
    register (its row is there), so both are changes; had it not, only the retry is."""
    changes = [("node.register", "enrollment", "n1", T0 + 0.1, T0 + 0.3, "unknown"),
               ("node.reregister", "enrollment", "n1", T0 + 0.5, T0 + 0.6, "made"),
               ("node.register", "enrollment", "n2", T0 + 0.1, T0 + 0.2, "made"),
               ("node.register", "enrollment", "n2", T0 + 0.7, T0 + 0.8, "refused")]
    collected = _collected(changes=changes)
    rows = [AuditRow(1, "enrollment", "node.register", "n1", T0 + 0.2),
            AuditRow(2, "enrollment", "node.register", "n2", T0 + 0.15),
            AuditRow(3, "enrollment", "node.reregister", "n1", T0 + 0.55)]
    evidence = build_evidence(_reports(collected=collected, database=True, audit=rows))
    assert sorted((c.kind, c.target, c.ok) for c in evidence.changes) == [
        ("node.register", "n1", True), ("node.register", "n2", False),
        ("node.register", "n2", True), ("node.reregister", "n1", True)]
    assert _failed(_reports(collected=collected, database=True, audit=rows)) == []
    unmade = [r for r in rows if r.id != 1]
    evidence = build_evidence(_reports(collected=collected, database=True, audit=unmade))
    assert len([c for c in evidence.changes if c.ok]) == 2
    assert _failed(_reports(collected=collected, database=True, audit=unmade)) == []
    from_api = build_evidence(_reports(collected=collected))
    assert len([c for c in from_api.changes if c.ok]) == 2  # unknown: never guessed


def test_stream_window_other_events_must_be_received_and_later_ones_are_not_judged() -> None:
    """The database's stream of the window (start head, drained seq]: a node_status event
    a dashboard skipped is missing; what it received after the window is not judged."""
    stream = [*(StreamEvent(s.stream_seq or 0, "detection", s.node_id, s.seq)
                for s in _stored()), StreamEvent(16, "node_status", "n1")]
    events = _events(_stored())
    dash = {**_dash("a", events), "stream_seqs": [*(e[0] for e in events), 16, 17]}
    reports = replace(_reports(dashboards=[dash], database=True, stream=stream),
                      stream_upto=16)
    (record,) = build_evidence(reports).dashboards
    assert list(record.stream_seqs) == [11, 12, 13, 14, 15, 16]
    assert _failed(reports) == []
    skipped = {**dash, "stream_seqs": [e[0] for e in events]}
    reports = replace(reports, drained={"w1": {"dashboards": [skipped], "drain_s": 1.0}})
    assert _failed(reports) == ["missing:w1/a"]


def test_transport_failures_are_named_for_the_ledger() -> None:
    from geventhttpclient.response import HTTPConnectionClosed

    assert transport_outcome(TimeoutError()) == "timeout"
    assert transport_outcome(ConnectionRefusedError()) == "refused"
    assert transport_outcome(ConnectionResetError()) == "reset"
    assert transport_outcome(HTTPConnectionClosed("closed")) == "reset"
    assert transport_outcome(ValueError("odd")) == "error"
    assert send_outcome(201, None) == "201" and send_outcome(0, None) == "error"
    assert says_duplicate({"duplicate": True}) and not says_duplicate({"duplicate": False})
    assert not says_duplicate(None)
