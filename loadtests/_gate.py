"""The Locust run's evidence, in the verdict's terms: one judge for every kind of run.

The gate does not judge by itself: it turns what the Locust processes reported (``_fleet``
answers: plain lists of tuples) and what the backend stored into a
``chaos.verdict.Evidence``, and calls ``chaos.verdict.compute_verdict`` with the scenario's
``Slos``. So every SLO the verdict has (and every one added to it later) holds for a Locust
run exactly as it does for ``sentinel-chaos run``, including a delivery p99 judged only
outside the fault windows. Pure functions over plain data: no Locust, no network.

Every field the verdict reads is filled: each detection's send attempts (so retries of a
committed detection answered as duplicates, lost acks and overload retries are counted),
each dashboard's sessions, resumes, replayed events, 4008 closes and stream seqs, and
(when the gate read the database) the real commit time of every row, the stream of the
run's window and the audit rows of the run's nodes against the registrations the edge
users asked for. ``audit_append_only`` stays empty: that probe rewrites the audit table
and is ``sentinel-chaos run``'s to make, not a load test's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chaos.scenario import Scenario, Slos
from chaos.scenario.windows import FaultWindow
from chaos.verdict import (
    AuditRow,
    DashboardRecord,
    Evidence,
    GeneratedDetection,
    ReceivedEvent,
    SendAttempt,
    SeriesPoint,
    StoredDetection,
    StreamEvent,
    Verdict,
    compute_verdict,
)
from loadtests._changes import state_changes
from loadtests._toxiproxy import FaultRecord

__all__ = [
    "NOT_PLAYED",
    "FleetReports",
    "build_evidence",
    "dashboard_records",
    "fault_windows",
    "gate_slos",
    "generated_detections",
    "judge_run",
    "merge_backlog",
]

NOT_PLAYED = "needs the full harness (sentinel-chaos run); not played by Locust"


@dataclass(frozen=True)
class FleetReports:
    """What the gate gathered: ``collected``/``drained`` are the per-process answers of
    ``ProcessEvidence.collect``/``drain`` (keyed by process id); ``commit_times``,
    ``stream_events`` (the database's stream up to ``stream_upto``, the seq the
    dashboards drained to) and ``audit_rows`` come from the database (``None``: judged
    from the API)."""

    collected: Mapping[str, Mapping[str, Any]]
    stored: Sequence[StoredDetection]
    drained: Mapping[str, Mapping[str, Any]]
    windows: Sequence[FaultWindow] = ()
    run_started_at: float | None = None
    harness_errors: Sequence[str] = field(default_factory=tuple)
    commit_times: str = "not recorded"
    stream_events: Sequence[StreamEvent] | None = None
    stream_upto: int | None = None
    audit_rows: Sequence[AuditRow] | None = None


def gate_slos(scenario: Scenario | None, delivery_p99_ms: float | None = None,
              drain_timeout_s: float | None = None) -> Slos:
    """The scenario's SLOs (the defaults without one), with the command line's overrides."""
    slos = scenario.slos if scenario is not None else Slos()
    if delivery_p99_ms is not None:
        slos = replace(slos, delivery_p99_ms=delivery_p99_ms)
    if drain_timeout_s is not None:
        slos = replace(slos, drain_timeout_s=drain_timeout_s)
    return slos


def generated_detections(collected: Mapping[str, Mapping[str, Any]]
                         ) -> list[GeneratedDetection]:
    """Every detection every process's edge users created, acked or not, with every
    send attempt of it."""
    out: list[GeneratedDetection] = []
    for _process, report in sorted(collected.items()):
        for node, seq, content, captured, acked_at, status, attempts in report["generated"]:
            out.append(GeneratedDetection(
                node_id=str(node), seq=int(seq), content_hash=int(content),
                captured_at=float(captured),
                acked_at=None if acked_at is None else float(acked_at),
                ack_status=None if status is None else int(status),
                attempts=[SendAttempt(at=float(at), outcome=str(outcome), batch=bool(batch),
                                      duplicate=bool(duplicate))
                          for at, outcome, batch, duplicate in attempts]))
    return out


def dashboard_records(drained: Mapping[str, Mapping[str, Any]], nodes: Iterable[str],
                      stream_upto: int | None = None) -> list[DashboardRecord]:
    """One record per dashboard (named ``<process>/<dashboard>``), with the detection
    events of this run's nodes it accepted; its own duplicate count rides along. Its
    stream seqs are cut at ``stream_upto`` (the end of the window the database's stream
    was read for: what it received after that is outside the judged window)."""
    wanted = set(nodes)
    upto = stream_upto if stream_upto is not None else float("inf")
    records: list[DashboardRecord] = []
    for process, report in sorted(drained.items()):
        for dash in report["dashboards"]:
            events = [ReceivedEvent(stream_seq=int(sseq), node_id=str(node), seq=int(seq),
                                    received_at=float(received),
                                    committed_at=float(committed),
                                    captured_at=None if captured is None else float(captured),
                                    content_hash=None if content is None else int(content))
                      for sseq, node, seq, received, committed, captured, content
                      in dash["events"] if node in wanted]
            sessions = int(dash.get("sessions", 0))
            records.append(DashboardRecord(
                name=f"{process}/{dash['name']}", events=events,
                reconnects=max(sessions - 1, 0), client_duplicates=int(dash["duplicates"]),
                stream_seqs=[int(s) for s in dash.get("stream_seqs", []) if int(s) <= upto],
                baseline_seq=dash.get("baseline_seq"), sessions=sessions,
                resumes=int(dash.get("resumes", 0)), replayed=int(dash.get("replayed", 0)),
                slow_closes=int(dash.get("slow_closes", 0)),
                gaps=int(dash.get("gaps", 0)), fatal=dash.get("fatal")))
    return records


def merge_backlog(series: Iterable[Sequence[Sequence[float]]]) -> list[SeriesPoint]:
    """The fleet's total outbox depth over time from each process's own samples: at every
    sample time, the sum of each process's latest value (a step function per process)."""
    points = sorted((float(t), index, float(v))
                    for index, samples in enumerate(series) for t, v in samples)
    latest: dict[int, float] = {}
    merged: list[SeriesPoint] = []
    for t, index, value in points:
        latest[index] = value
        merged.append(SeriesPoint(t=t, value=sum(latest.values())))
    return merged


def _window_of_record(record: FaultRecord, window: FaultWindow) -> FaultWindow:
    step = record.step
    window.started_at = record.applied_wall
    window.ended_at = record.cleared_wall
    if record.errors:
        window.status, window.reason = "failed", "; ".join(record.errors)
    elif record.applied_wall is None:
        window.status, window.reason = "cancelled", "not applied before the run ended"
    elif record.cleared_wall is None:
        window.status = "active"
    elif record.cleared_at is not None and record.cleared_at < step.end - 0.5:
        window.status, window.reason = "interrupted", "the run stopped before its end"
    else:
        window.status = "applied"
    return window


def fault_windows(scenario: Scenario | None, records: Sequence[FaultRecord]) -> list[FaultWindow]:
    """The timeline as it was played: each scenario step with the wall-clock times the
    Locust-side player applied and cleared it; steps it cannot play are ``skipped``."""
    if scenario is None:
        return []
    played = {record.step.index: record for record in records}
    windows: list[FaultWindow] = []
    for step in scenario.steps:
        window = FaultWindow(step_index=step.index, kind=step.kind,
                             description=step.describe(),
                             link=step.link.name if step.link else None,
                             planned_at_s=step.at_s, planned_for_s=step.for_s)
        record = played.get(step.index)
        if record is None:
            window.status, window.reason = "skipped", NOT_PLAYED
        else:
            _window_of_record(record, window)
        windows.append(window)
    return windows


def _latest(values: Iterable[float | None]) -> float | None:
    """The latest of per-process times; None when any process lacks one."""
    seen = list(values)
    if not seen or any(v is None for v in seen):
        return None
    return max(float(v) for v in seen if v is not None)


def build_evidence(reports: FleetReports) -> Evidence:
    """The verdict's evidence of a Locust run.

    ``generation_ended_at``: when the last process stopped its users; ``drained_at``: when
    every outbox was flushed and every dashboard had the last stored event (None when
    either did not happen within the drain budget).
    """
    collected, drained = reports.collected, reports.drained
    generated = generated_detections(collected)
    nodes = {node for report in collected.values() for node in report["nodes"]}
    nodes |= {g.node_id for g in generated}
    dashboards = dashboard_records(drained, nodes, reports.stream_upto)
    reached = [dash.get("reached_at") for report in drained.values()
               for dash in report["dashboards"]]
    flushed = [report.get("flushed_at") for report in collected.values()]
    drained_at = _latest([*flushed, *reached]) if collected else None
    return Evidence(
        generated=generated,
        stored=[s for s in reports.stored if s.node_id in nodes],
        dashboards=dashboards,
        fault_windows=list(reports.windows),
        backlog=merge_backlog(report.get("backlog", []) for report in collected.values()),
        run_started_at=reports.run_started_at,
        generation_ended_at=_latest(report.get("stopped_at") for report in collected.values()),
        drained_at=drained_at,
        harness_errors=list(reports.harness_errors),
        fleet_counters=_counters(collected),
        commit_times=reports.commit_times,
        stream_events=None if reports.stream_events is None else list(reports.stream_events),
        changes=state_changes(collected, reports.audit_rows),
        audit_rows=None if reports.audit_rows is None else list(reports.audit_rows),
    )


def _counters(collected: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for report in collected.values():
        for name, value in report.get("counters", {}).items():
            total[name] = total.get(name, 0) + int(value)
    return total


def judge_run(reports: FleetReports, slos: Slos) -> tuple[Evidence, Verdict]:
    """The run's evidence and the one verdict on it."""
    evidence = build_evidence(reports)
    return evidence, compute_verdict(evidence, slos)
