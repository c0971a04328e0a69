"""Reports of a judged run: terminal summary, ``report.json``, JUnit XML, ``index.html``."""

from chaos.report.files import ReportPaths, write_reports
from chaos.report.html import render_html
from chaos.report.json_report import SCHEMA_VERSION, build_report, write_report_json
from chaos.report.junit import render_junit
from chaos.report.publish import Published, publish
from chaos.report.run_info import RunInfo, basic_environment
from chaos.report.summary import render_summary, verdict_word

__all__ = [
    "SCHEMA_VERSION",
    "Published",
    "ReportPaths",
    "RunInfo",
    "basic_environment",
    "build_report",
    "publish",
    "render_html",
    "render_junit",
    "render_summary",
    "verdict_word",
    "write_report_json",
    "write_reports",
]
