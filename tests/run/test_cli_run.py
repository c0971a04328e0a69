"""`sentinel-chaos run` end to end, as a user runs it: a subprocess, real stack, real faults."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from chaos.l3 import l3_available

from ._runhelpers import explain, report, sentinel_chaos

pytestmark = pytest.mark.slow


def test_smoke_passes_and_writes_every_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--scenario", "smoke", "--nodes", "10", "--duration", "27s",
                          "--report-dir", str(out), "--junit", str(out / "junit.xml"),
                          cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "PASS  smoke" in proc.stdout
    for name in ("report.json", "index.html", "junit.xml", "evidence.json"):
        assert (out / name).is_file(), name
    data = report(out)
    assert data["verdict"] == "pass"
    assert data["integrity"]["generated"] > 100
    assert data["integrity"]["lost"] == 0
    assert {w["status"] for w in data["fault_windows"]} == {"applied"}
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    assert {c.get("name") for c in cases} >= {"lost", "duplicated", "delivery_p99"}


@pytest.mark.l3
def test_arctic_satlink_with_real_packet_loss(tmp_path: Path) -> None:
    ok, why = l3_available()
    if not ok:
        pytest.skip(f"L3 unavailable: {why}")
    out = tmp_path / "report"
    # The scenario's fault runs 10s..45s; generation stops at its end instead of at 60 s.
    proc = sentinel_chaos("run", "--scenario", "arctic-satlink", "--duration", "45s",
                          "--report-dir", str(out), cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    kinds = {w["kind"]: w["status"] for w in data["fault_windows"]}
    assert kinds == {"loss": "applied", "delay": "applied", "toxic": "applied"}, (
        data["fault_windows"])
    assert "netns" in data["environment"]["l3"]
    assert data["integrity"]["lost"] == 0 and data["integrity"]["duplicated"] == 0


def test_a_failed_slo_exits_1(tmp_path: Path) -> None:
    scenario = tmp_path / "slow-stream.yaml"
    scenario.write_text(textwrap.dedent("""\
        name: slow-stream
        description: "The stream link is slower than the SLO allows: must fail."
        duration: 8s
        drain: 20s
        fleet: {nodes: 3, rate: 2, dashboards: 1}
        steps:
          - {at: 0s, for: 8s, link: stream,
             toxic: {type: latency, attributes: {latency: 400}, stream: downstream}}
        slos: {delivery_p99_ms: 150, drain_timeout_s: 20s}
        """))
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--scenario", str(scenario), "--report-dir", str(out),
                          cwd=tmp_path)
    assert proc.returncode == 1, explain(proc)
    data = report(out)
    assert data["verdict"] == "fail"
    assert [s["name"] for s in data["slos"] if not s["passed"]] == ["delivery_p99"]


def test_a_bad_scenario_file_exits_2_naming_line_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("name: mine\nduration: 10s\nsteps:\n  - at: 1s\n    for: abc\n"
                        "    link: ingest\n    cut: {}\n")
    proc = sentinel_chaos("run", "--scenario", str(scenario), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, explain(proc)
    assert "mine.yaml:5" in proc.stderr and "steps[0].for" in proc.stderr, proc.stderr


def test_an_unknown_scenario_exits_2(tmp_path: Path) -> None:
    proc = sentinel_chaos("run", "--scenario", "no-such-scenario", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, explain(proc)
    assert "smoke" in proc.stderr  # lists the built-ins


def test_scenarios_lists_every_builtin_and_what_it_exercises(tmp_path: Path) -> None:
    from chaos.scenario import builtin_names

    proc = sentinel_chaos("scenarios", "--brief", cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, explain(proc)
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == sorted(builtin_names())
    assert {"smoke", "crash-drill", "selftest-steady"} <= set(names)
    full = sentinel_chaos("scenarios", cwd=tmp_path, timeout=60)
    assert full.returncode == 0, explain(full)
    lines = full.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("smoke "))
    assert "requires exercised: idempotency, resume" in "\n".join(lines[at:at + 3])
