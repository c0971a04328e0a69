"""``report.json``: the machine-readable report. Its keys are listed in ``SCHEMA.md`` (kept in
step by a test); a change to them is a ``SCHEMA_VERSION`` bump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from chaos.report._verdict_parts import verdict_parts
from chaos.report.run_info import RunInfo
from chaos.report.summary import verdict_word
from chaos.scenario.windows import FaultWindow
from chaos.verdict._stats import Percentiles
from chaos.verdict.evidence import Evidence
from chaos.verdict.result import Verdict, exit_code

SCHEMA_VERSION = 1


def build_report(verdict: Verdict, evidence: Evidence, run: RunInfo) -> dict[str, Any]:
    scenario = run.scenario
    lat = verdict.latency
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict_word(verdict).lower(),
        "passed": verdict.passed,
        "exit_code": exit_code(verdict),
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "source": scenario.source,
            "duration_s": scenario.duration_s,
            "drain_s": scenario.drain_s,
            "fleet": {"nodes": scenario.fleet.nodes, "rate": scenario.fleet.rate,
                      "dashboards": scenario.fleet.dashboards,
                      "payload_mix": dict(scenario.fleet.payload_mix)},
            "steps": [{"index": s.index, "kind": s.kind,
                       "link": s.link.name if s.link else None, "at_s": s.at_s,
                       "for_s": s.for_s, "description": s.describe()}
                      for s in scenario.steps],
        },
        "environment": dict(run.environment),
        "run": {"started_at": run.started_at, "ended_at": run.ended_at,
                "generation_ended_at": evidence.generation_ended_at,
                "drained_at": evidence.drained_at, "drain_s": verdict.drain_s,
                "state_dir": run.state_dir,
                "clock_offset_s": evidence.clock_offset_s,
                "clock_uncertainty_s": evidence.clock_uncertainty_s},
        "slos": [{"name": s.name, "passed": s.passed, "measured": s.measured,
                  "limit": s.limit, "unit": s.unit, "detail": s.detail, "status": s.status,
                  "exercised": s.exercised, "measurable": s.measurable}
                 for s in verdict.slos],
        "integrity": {
            "generated": verdict.integrity.generated, "stored": verdict.integrity.stored,
            "lost": verdict.integrity.lost, "duplicated": verdict.integrity.duplicated,
            "stored_twice": verdict.integrity.stored_twice,
            "altered": verdict.integrity.altered,
            "unexpected": verdict.integrity.unexpected,
            "lost_sample": [list(i) for i in verdict.integrity.lost_sample],
            "duplicated_sample": [list(i) for i in verdict.integrity.duplicated_sample],
        },
        "dashboards": [{"name": d.name, "received": d.received, "unique": d.unique,
                        "missing": d.missing, "duplicates": d.duplicates,
                        "out_of_order": d.out_of_order, "reconnects": d.reconnects,
                        "missing_sample": [list(i) for i in d.missing_sample],
                        "stable": d.stable, "phantom": d.phantom, "altered": d.altered,
                        "missing_events": d.missing_events, "sessions": d.sessions,
                        "resumes": d.resumes, "replayed": d.replayed,
                        "slow_closes": d.slow_closes, "fatal": d.fatal,
                        "phantom_sample": [list(i) for i in d.phantom_sample],
                        "altered_sample": [list(i) for i in d.altered_sample]}
                       for d in verdict.dashboards],
        "latency_ms": {
            "delivery": {"all": _pct(lat.delivery), "inside_faults": _pct(lat.delivery_inside),
                         "outside_faults": _pct(lat.delivery_outside)},
            "end_to_end": {"all": _pct(lat.end_to_end),
                           "inside_faults": _pct(lat.end_to_end_inside),
                           "outside_faults": _pct(lat.end_to_end_outside)},
        },
        "recovery": {
            "backlog_threshold": verdict.backlog_threshold,
            "faults": [{"step_index": r.step_index, "kind": r.kind,
                        "description": r.description, "fault_ended_at": r.fault_ended_at,
                        "recovered_at": r.recovered_at, "recovery_s": r.recovery_s}
                       for r in verdict.recoveries],
        },
        "fault_windows": [_window(w) for w in evidence.fault_windows],
        "skipped_steps": [{"step_index": w.step_index, "kind": w.kind,
                           "description": w.description, "reason": w.reason}
                          for w in verdict.skipped],
        "harness_errors": list(verdict.harness_errors),
        **verdict_parts(verdict),
    }


def _pct(stats: Percentiles) -> dict[str, Any]:
    return {"count": stats.count, "p50": stats.p50, "p95": stats.p95, "p99": stats.p99,
            "max": stats.max}


def _window(w: FaultWindow) -> dict[str, Any]:
    return {"step_index": w.step_index, "kind": w.kind, "description": w.description,
            "link": w.link, "planned_at_s": w.planned_at_s, "planned_for_s": w.planned_for_s,
            "status": w.status, "started_at": w.started_at, "ended_at": w.ended_at,
            "reason": w.reason}


def write_report_json(path: str | Path, report: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                     + b"\n")
    return path
