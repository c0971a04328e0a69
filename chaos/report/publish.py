"""The end of a run in one call: judge the evidence, write every report, say the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaos._secrets import redact
from chaos.report._scrub import scrub_evidence
from chaos.report.files import ReportPaths, write_reports
from chaos.report.run_info import RunInfo
from chaos.report.summary import render_summary, run_notes, with_run_notes
from chaos.verdict.compute import compute_verdict
from chaos.verdict.evidence import Evidence
from chaos.verdict.evidence_io import write_evidence
from chaos.verdict.result import Verdict, exit_code


@dataclass(frozen=True)
class Published:
    verdict: Verdict
    exit_code: int
    summary: str
    paths: ReportPaths
    evidence_json: Path


def publish(evidence: Evidence, run: RunInfo, report_dir: str | Path, *,
            junit_path: str | Path | None = None) -> Published:
    """Compute the verdict against ``run.scenario.slos`` and write ``report.json``,
    ``index.html``, JUnit XML and ``evidence.json`` (to judge again offline with
    ``python -m chaos.verdict``). Printing ``summary`` is the caller's choice. Nothing
    written or returned holds a secret (``_scrub``); the verdict is computed before."""
    verdict = compute_verdict(evidence, run.scenario.slos)
    paths = write_reports(report_dir, verdict, evidence, run, junit_path=junit_path)
    evidence_json = write_evidence(Path(report_dir) / "evidence.json", scrub_evidence(evidence))
    # The run's own caveats (certificates not verified, a remote clock's offset) lead.
    notes = run_notes(run.environment, evidence.clock_offset_s, evidence.clock_uncertainty_s)
    summary = with_run_notes(render_summary(verdict, run.scenario.name), notes)
    return Published(verdict=verdict, exit_code=exit_code(verdict), summary=redact(summary),
                     paths=paths, evidence_json=evidence_json)
