"""Constructed evidence for verdict and report tests: a clean run, then one planted flaw
at a time. Times are seconds from T0 (an arbitrary epoch)."""

from __future__ import annotations

from dataclasses import replace

from chaos.scenario import FaultWindow
from chaos.verdict import (
    DashboardRecord,
    Evidence,
    GeneratedDetection,
    ReceivedEvent,
    SeriesPoint,
    StoredDetection,
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
    generated: list[GeneratedDetection] = []
    stored: list[StoredDetection] = []
    events: list[ReceivedEvent] = []
    stream_seq = 0
    for second in range(PER_NODE):
        for node in NODES:
            seq = second + 1
            captured = T0 + second + 0.1
            committed = captured + COMMIT_DELAY
            digest = f"h-{node}-{seq}"
            generated.append(GeneratedDetection(node, seq, digest, captured))
            stored.append(StoredDetection(node, seq, digest, committed_at=committed))
            stream_seq += 1
            events.append(ReceivedEvent(stream_seq, node, seq, committed + DELIVERY,
                                        committed, captured))
    backlog = [SeriesPoint(T0 + t * 0.5, 1.0) for t in range(60)]
    acked = [SeriesPoint(T0 + t, 3.0) for t in range(30)]
    return Evidence(
        generated=generated, stored=stored,
        dashboards=[DashboardRecord(f"dash-{i}", list(events)) for i in range(dashboards)],
        backlog=backlog, acked_per_s=acked, run_started_at=T0,
        generation_ended_at=T0 + PER_NODE, drained_at=T0 + PER_NODE + 2.0)


def with_dashboard_events(evidence: Evidence, index: int,
                          events: list[ReceivedEvent]) -> Evidence:
    dashboards = list(evidence.dashboards)
    dashboards[index] = replace(dashboards[index], events=events)
    return replace(evidence, dashboards=dashboards)
