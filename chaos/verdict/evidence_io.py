"""``Evidence`` to and from JSON, so a run's evidence can be kept next to its report and
judged again offline (a different SLO set, a fixed verdict) without rerunning the chaos."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from chaos.scenario.windows import FaultWindow
from chaos.verdict.evidence import (
    AuditRow,
    BlackoutRecord,
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

EVIDENCE_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 lacks the fields added since; their defaults apply


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    data = asdict(evidence)
    data["evidence_version"] = EVIDENCE_VERSION
    return data


def evidence_from_dict(data: dict[str, Any]) -> Evidence:
    version = data.get("evidence_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"evidence_version {version!r} is not supported "
                         f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})")
    audit_rows = data.get("audit_rows")
    stream = data.get("stream_events")
    return Evidence(
        generated=[_generated(g) for g in data["generated"]],
        stored=[StoredDetection(**s) for s in data["stored"]],
        dashboards=[DashboardRecord(**{**d, "events": [ReceivedEvent(**e)
                                                       for e in d["events"]]})
                    for d in data["dashboards"]],
        fault_windows=[FaultWindow(**w) for w in data.get("fault_windows", [])],
        backlog=[SeriesPoint(**p) for p in data.get("backlog", [])],
        acked_per_s=[SeriesPoint(**p) for p in data.get("acked_per_s", [])],
        run_started_at=data.get("run_started_at"),
        generation_ended_at=data.get("generation_ended_at"),
        drained_at=data.get("drained_at"),
        harness_errors=list(data.get("harness_errors", [])),
        commit_times=data.get("commit_times", "not recorded"),
        stream_events=None if stream is None else [StreamEvent(**e) for e in stream],
        blackouts=[BlackoutRecord(**b) for b in data.get("blackouts", [])],
        ledger_gaps=int(data.get("ledger_gaps", 0)),
        fleet_counters=dict(data.get("fleet_counters", {})),
        changes=[StateChange(**c) for c in data.get("changes", [])],
        audit_rows=None if audit_rows is None else [AuditRow(**r) for r in audit_rows],
        audit_append_only=dict(data.get("audit_append_only", {})),
        clock_offset_s=data.get("clock_offset_s"),
        clock_uncertainty_s=data.get("clock_uncertainty_s"),
    )


def _generated(g: dict[str, Any]) -> GeneratedDetection:
    attempts = [SendAttempt(**a) for a in g.get("attempts", [])]
    return GeneratedDetection(**{**g, "attempts": attempts})


def write_evidence(path: str | Path, evidence: Evidence) -> Path:
    path = Path(path)
    path.write_bytes(orjson.dumps(evidence_to_dict(evidence)))
    return path


def read_evidence(path: str | Path) -> Evidence:
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return evidence_from_dict(data)
