"""Write the three report files of a judged run into one directory.

Every file's text is redacted on its way to disk (``chaos._secrets``): the directory is what
CI uploads, and a step description or an environment entry may quote a URL with ``?token=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chaos._secrets import redact, redact_value
from chaos.report._scrub import scrub_run
from chaos.report.html import render_html
from chaos.report.json_report import build_report, write_report_json
from chaos.report.junit import render_junit
from chaos.report.run_info import RunInfo
from chaos.verdict.evidence import Evidence
from chaos.verdict.result import Verdict


@dataclass(frozen=True)
class ReportPaths:
    report_json: Path
    index_html: Path
    junit_xml: Path


def write_reports(directory: str | Path, verdict: Verdict, evidence: Evidence, run: RunInfo,
                  *, junit_path: str | Path | None = None) -> ReportPaths:
    """Write ``report.json``, ``index.html`` and ``junit.xml`` (or ``junit_path``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    run = scrub_run(run)
    report_json = write_report_json(directory / "report.json",
                                    redact_value(build_report(verdict, evidence, run)))
    index_html = directory / "index.html"
    index_html.write_text(redact(render_html(verdict, evidence, run)), encoding="utf-8")
    junit_xml = Path(junit_path) if junit_path is not None else directory / "junit.xml"
    junit_xml.parent.mkdir(parents=True, exist_ok=True)
    duration = 0.0
    if run.started_at is not None and run.ended_at is not None:
        duration = run.ended_at - run.started_at
    junit_xml.write_text(redact(render_junit(verdict, run.scenario.name, duration_s=duration)),
                         encoding="utf-8")
    return ReportPaths(report_json=report_json, index_html=index_html, junit_xml=junit_xml)

