"""Reports: report.json keys match SCHEMA.md, JUnit has one case per SLO, HTML is
self-contained with SVG plots and shaded fault windows, the summary leads with the verdict."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import chaos.report.json_report
from chaos.report import (
    SCHEMA_VERSION,
    RunInfo,
    basic_environment,
    publish,
    render_summary,
    write_reports,
)
from chaos.scenario import FaultWindow, resolve_scenario
from chaos.verdict import Evidence, Verdict, compute_verdict
from chaos.verdict.__main__ import main as verdict_main

from ._evidence import T0, clean_evidence, window, without_first_stored

SCHEMA = Path(chaos.report.json_report.__file__).parent / "SCHEMA.md"


def documented_keys() -> set[str]:
    text = SCHEMA.read_text()
    block = re.search(r"```keys\n(.*?)```", text, re.S)
    assert block is not None
    keys = set()
    for line in block.group(1).splitlines():
        if line and not line.startswith(" "):
            keys.add(line.split()[0])
    return keys


def flatten(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        if prefix in ("environment", "scenario.fleet.payload_mix", "coverage.paths",
                      "coverage.notes", "audit.by_kind", "audit.append_only", "forensics"):
            return {f"{prefix}.*"}
        keys: set[str] = set()
        for key, child in value.items():
            keys |= flatten(child, f"{prefix}.{key}" if prefix else key)
        return keys
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return set().union(*(flatten(item, f"{prefix}[]") for item in value))
    return {prefix}


def run_once(tmp_path: Path, evidence: Evidence) -> tuple[Verdict, Path]:
    scenario = resolve_scenario("smoke")
    # The constructed evidence takes no recovery path; smoke's required ones are judged in
    # tests/harness/test_verdict_deep.py.
    scenario = replace(scenario, slos=replace(scenario.slos, require_exercised=()))
    verdict = compute_verdict(evidence, scenario.slos)
    run = RunInfo(scenario=scenario, environment={**basic_environment(), "l3": "skipped"},
                  started_at=T0, ended_at=T0 + 40)
    write_reports(tmp_path, verdict, evidence, run)
    return verdict, tmp_path


def faulty_evidence() -> Evidence:
    evidence = clean_evidence()
    skipped = FaultWindow(step_index=2, kind="loss", description="L3 loss 50% on ingest",
                          link="ingest", planned_at_s=1, planned_for_s=2, status="skipped",
                          reason="needs root, ip and nft")
    return replace(without_first_stored(evidence),
                   fault_windows=[window(0, 5.0, 10.0, kind="toxic"), window(1, 12.0, 14.0),
                                  skipped])


def test_report_json_keys_match_the_documented_list(tmp_path: Path) -> None:
    _, out = run_once(tmp_path, faulty_evidence())
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert flatten(report) == documented_keys()
    assert report["verdict"] == "fail" and report["exit_code"] == 1
    assert report["integrity"]["lost"] == 1
    assert report["skipped_steps"][0]["reason"] == "needs root, ip and nft"


def test_junit_has_one_testcase_per_slo_and_failures_carry_numbers(tmp_path: Path) -> None:
    verdict, out = run_once(tmp_path, faulty_evidence())
    root = ET.parse(out / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [s.name for s in verdict.slos]
    failures = {c.get("name"): c.find("failure") for c in cases
                if c.find("failure") is not None}
    assert set(failures) == {s.name for s in verdict.failed_slos} == {"lost"}
    message = failures["lost"].get("message")  # type: ignore[union-attr]
    assert message is not None and "1 > 0" in message
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_junit_clean_run_has_no_failures(tmp_path: Path) -> None:
    _, out = run_once(tmp_path, clean_evidence())
    root = ET.parse(out / "junit.xml").getroot()
    assert root.findall(".//failure") == [] and root.findall(".//error") == []


def test_html_is_self_contained_with_svg_plots_and_shaded_fault_windows(tmp_path: Path
                                                                        ) -> None:
    _, out = run_once(tmp_path, faulty_evidence())
    html = (out / "index.html").read_text()
    assert html.count("<svg") == 3
    assert 'class="chart latency"' in html and 'class="chart backlog"' in html
    assert 'class="chart throughput"' in html
    # two applied windows shaded on each of the three plots; the skipped one is not
    assert html.count('class="fault-window"') == 6
    assert "<script" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "")
    assert "needs root, ip and nft" in html and "smoke" in html and "python" in html
    ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))  # type: ignore[union-attr]


def test_summary_leads_with_the_verdict() -> None:
    scenario = resolve_scenario("smoke")
    slos = replace(scenario.slos, require_exercised=())
    failing = compute_verdict(faulty_evidence(), slos)
    text = render_summary(failing, "smoke")
    first = text.splitlines()[0]
    assert first.startswith("FAIL  smoke") and "lost" in first
    assert "delivery, in faults" in text and "skipped steps" in text
    assert "needs root" in text
    passing = render_summary(compute_verdict(clean_evidence(), slos), "smoke")
    assert passing.startswith("PASS  smoke: all")
    assert "ok*" in passing and "held, but the recovery path" in passing
    assert "exercised: " in passing and "not exercised: idempotency" in passing
    # smoke requires idempotency and resume: evidence that took neither path fails there
    required = render_summary(compute_verdict(clean_evidence(), scenario.slos), "smoke")
    assert required.startswith("FAIL  smoke") and "exercised:idempotency" in required


def test_publish_writes_everything_and_the_evidence_can_be_judged_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = resolve_scenario("smoke")
    run = RunInfo(scenario=scenario, environment=basic_environment(), started_at=T0)
    published = publish(faulty_evidence(), run, tmp_path / "out")
    assert published.exit_code == 1 and published.summary.startswith("FAIL")
    for path in (published.paths.report_json, published.paths.index_html,
                 published.paths.junit_xml, published.evidence_json):
        assert path.is_file()
    code = verdict_main([str(published.evidence_json), "--scenario", "smoke",
                         "--report-dir", str(tmp_path / "again")])
    assert code == 1 and capsys.readouterr().out.startswith("FAIL  smoke")
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["integrity"]["lost"] == 1
    assert verdict_main([str(tmp_path / "absent.json")]) == 2
