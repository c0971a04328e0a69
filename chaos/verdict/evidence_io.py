"""``Evidence`` to and from JSON, so a run's evidence can be kept next to its report and
judged again offline (a different SLO set, a fixed verdict) without rerunning the chaos."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from chaos.scenario.windows import FaultWindow
from chaos.verdict.evidence import (
    DashboardRecord,
    Evidence,
    GeneratedDetection,
    ReceivedEvent,
    SeriesPoint,
    StoredDetection,
)

EVIDENCE_VERSION = 1


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    data = asdict(evidence)
    data["evidence_version"] = EVIDENCE_VERSION
    return data


def evidence_from_dict(data: dict[str, Any]) -> Evidence:
    version = data.get("evidence_version")
    if version != EVIDENCE_VERSION:
        raise ValueError(f"evidence_version {version!r} is not supported "
                         f"(this version reads {EVIDENCE_VERSION})")
    return Evidence(
        generated=[GeneratedDetection(**g) for g in data["generated"]],
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
    )


def write_evidence(path: str | Path, evidence: Evidence) -> Path:
    path = Path(path)
    path.write_bytes(orjson.dumps(evidence_to_dict(evidence)))
    return path


def read_evidence(path: str | Path) -> Evidence:
    data = orjson.loads(Path(path).read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return evidence_from_dict(data)
