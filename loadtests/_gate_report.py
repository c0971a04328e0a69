"""How the gate's verdict reads: the terminal block, the exit code and ``--gate-report``.

The block is the verdict's own terminal summary (``chaos.report.render_summary``: one line
per SLO with measured and limit, then integrity, dashboards, latency inside and outside
fault windows, recovery, drain, harness errors), framed by a header and one last line
``sentinel gate: PASS`` or ``sentinel gate: FAIL (<failed SLOs>)`` that scripts grep for.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chaos.report import render_summary
from chaos.verdict import Evidence, Verdict, write_evidence

__all__ = ["exit_status", "format_verdict", "gate_figures", "verdict_line", "write_gate_report"]


def exit_status(verdict: Verdict) -> int:
    """Locust's exit code: 1 on any failed SLO or harness error, 0 on a pass."""
    return 0 if verdict.passed and not verdict.harness_errors else 1


def verdict_line(verdict: Verdict) -> str:
    if exit_status(verdict) == 0:
        return "sentinel gate: PASS"
    failed = [slo.name for slo in verdict.failed_slos]
    if verdict.harness_errors:
        failed.append("harness")
    return f"sentinel gate: FAIL ({', '.join(failed)})"


def format_verdict(verdict: Verdict, scenario_name: str = "") -> str:
    """The terminal block: the verdict's summary, then the one-line verdict."""
    header = f"=== sentinel gate {scenario_name}".rstrip() + " ==="
    return f"{header}\n{render_summary(verdict, scenario_name)}{verdict_line(verdict)}"


def gate_figures(evidence: Evidence, verdict: Verdict) -> dict[str, Any]:
    """The numbers a script checks, flat (the full verdict is in the report too)."""
    acked = sum(1 for g in evidence.generated if g.acked_at is not None)
    lat = verdict.latency
    return {
        "generated": verdict.integrity.generated, "acked": acked,
        "stored": verdict.integrity.stored, "lost": verdict.integrity.lost,
        "duplicated": verdict.integrity.duplicated,
        "dashboard_missing": {d.name: d.missing for d in verdict.dashboards},
        "deliveries": lat.delivery.count, "p99_ms": lat.delivery.p99,
        "p99_outside_faults_ms": lat.delivery_outside.p99,
        "deliveries_outside_faults": lat.delivery_outside.count,
        "p99_inside_faults_ms": lat.delivery_inside.p99, "drain_s": verdict.drain_s,
    }


def write_gate_report(path: str | Path, evidence: Evidence, verdict: Verdict,
                      figures: dict[str, Any], notes: list[str]) -> Path:
    """``path``: the verdict as JSON (SLOs, figures, notes); beside it
    ``<stem>.evidence.json``, which ``python -m chaos.verdict`` can judge again offline."""
    path = Path(path)
    report = {
        "passed": exit_status(verdict) == 0,
        "slos": [asdict(slo) for slo in verdict.slos],
        "harness_errors": list(verdict.harness_errors),
        "figures": figures, "notes": notes, "verdict": asdict(verdict),
    }
    path.write_text(json.dumps(report, indent=2, default=str))
    write_evidence(path.with_name(f"{path.stem}.evidence.json"), evidence)
    return path
