"""Constructed evidence for verdict and report tests: a clean run, then one planted flaw
at a time. Times are seconds from T0 (an arbitrary epoch)."""

from __future__ import annotations

from dataclasses import replace

from chaos.scenario import FaultWindow
from chaos.verdict import (
    AuditRow,
    DashboardRecord,
    Evidence,
    GeneratedDetection,
    ReceivedEvent,
    SendAttempt,
    SeriesPoint,
    StateChange,
    StoredDetection,
    StreamEvent,
)

T0 = 1_800_000_000.0
NODES = ("edge-0001", "edge-0002", "edge-0003")
PER_NODE = 20          # one detection per node per second, for 20 s
COMMIT_DELAY = 0.050   # captured -> committed
DELIVERY = 0.020       # committed -> received (20 ms)


def window(index: int, start: float, end: float, kind: str = "cut",
           status: str = "applied") -> FaultWindow:
    return FaultWindow(step_index=index, kind=kind, description=f"{kind} ingest", link="ingest",
                       planned_at_s=start, planned_for_s=end - start, status=status,
                       started_at=T0 + start, ended_at=T0 + end)


def clean_evidence(dashboards: int = 2) -> Evidence:
    """A run with nothing wrong: every detection sent once, committed, then acked (2 ms
    after its commit), received by every dashboard with the stored content; one status
    event per node on the stream; every registration in the audit log."""
    generated: list[GeneratedDetection] = []
    stored: list[StoredDetection] = []
    events: list[ReceivedEvent] = []
    stream: list[StreamEvent] = []
    changes: list[StateChange] = []
    rows: list[AuditRow] = []
    for i, node in enumerate(NODES):
        asked = T0 - 1.0 + i * 0.1
        changes.append(StateChange("node.register", "enrollment", node, asked, asked + 0.01))
        rows.append(AuditRow(i + 1, "enrollment", "node.register", node, asked + 0.005))
        stream.append(StreamEvent(i + 1, "node_status", node))
    stream_seq = len(NODES)
    for second in range(PER_NODE):
        for node in NODES:
            seq = second + 1
            captured = T0 + second + 0.1
            committed = captured + COMMIT_DELAY
            digest = f"h-{node}-{seq}"
            stream_seq += 1
            generated.append(GeneratedDetection(
                node, seq, digest, captured, acked_at=committed + 0.002, ack_status=201,
                attempts=(SendAttempt(captured + 0.001, "201"),)))
            stored.append(StoredDetection(node, seq, digest, committed_at=committed,
                                          commit_ts=committed - 0.0005,
                                          stream_seq=stream_seq))
            stream.append(StreamEvent(stream_seq, "detection", node, seq))
            events.append(ReceivedEvent(stream_seq, node, seq, committed + DELIVERY,
                                        committed, captured, content_hash=digest))
    backlog = [SeriesPoint(T0 + t * 0.5, 1.0) for t in range(60)]
    acked = [SeriesPoint(T0 + t, 3.0) for t in range(30)]
    seqs = [e.stream_seq for e in stream]
    return Evidence(
        generated=generated, stored=stored,
        dashboards=[DashboardRecord(f"dash-{i}", list(events), stream_seqs=seqs,
                                    baseline_seq=0, sessions=1) for i in range(dashboards)],
        backlog=backlog, acked_per_s=acked, run_started_at=T0,
        generation_ended_at=T0 + PER_NODE, drained_at=T0 + PER_NODE + 2.0,
        commit_times="measured", stream_events=stream, changes=changes, audit_rows=rows,
        audit_append_only={"UPDATE": True, "DELETE": True, "TRUNCATE": True})


def without_first_stored(evidence: Evidence) -> Evidence:
    """The first detection acked but never stored: gone from the database, the stream
    and every dashboard (a silent drop, as a backend that loses a row would show it)."""
    first = evidence.stored[0]
    gone = (first.node_id, first.seq)
    dashboards = [replace(d, events=[e for e in d.events if (e.node_id, e.seq) != gone],
                          stream_seqs=[s for s in d.stream_seqs if s != first.stream_seq])
                  for d in evidence.dashboards]
    stream = [e for e in evidence.stream_events or () if e.stream_seq != first.stream_seq]
    return replace(evidence, stored=list(evidence.stored)[1:], dashboards=dashboards,
                   stream_events=stream)


def with_dashboard_events(evidence: Evidence, index: int,
                          events: list[ReceivedEvent]) -> Evidence:
    dashboards = list(evidence.dashboards)
    dashboards[index] = replace(dashboards[index], events=events)
    return replace(evidence, dashboards=dashboards)
