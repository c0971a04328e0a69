"""The netem-class L3 steps in whole runs: `sentinel-chaos run` with a real shaper (or netem).

Each test writes a short scenario (small fleet, ~22 s of generation), runs the CLI as a
user does, and judges the report: the impairment must show in the latencies where it
should (so the test fails if the step silently did nothing) and the backend must still
store every detection exactly once. Skipped with the reason where the host cannot
impair packets (no root, ``ip``, ``nft``, or neither ``sch_netem`` nor iptables with the
NFQUEUE binding), as ``tests/l3`` is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from chaos.l3 import PREFIX, find_leftovers, impairments_available, l3_available

from ._runhelpers import explain, report, sentinel_chaos

pytestmark = [pytest.mark.slow, pytest.mark.l3]

DELAY_MS = 250
#: One RTO: TCP resends a dropped (corrupted) segment no sooner than this.
MIN_RTO_MS = 200


@pytest.fixture(autouse=True)
def _require_impairments() -> None:
    ok, why = l3_available()
    if ok:
        ok, why = impairments_available()
    if not ok:
        pytest.skip(f"L3 impairments unavailable: {why}")


def _scenario(path: Path, name: str, steps: str) -> Path:
    """A short run: 5 nodes x 2/s, one dashboard, 22 s of generation, the given steps."""
    path.write_text(
        f"name: {name}\n"
        f'description: "L3 impairment run test: {name}."\n'
        "duration: 22s\n"
        "drain: 30s\n"
        "fleet: {nodes: 5, rate: 2, dashboards: 1}\n"
        "steps:\n"
        f"{steps}"
        "slos: {drain_timeout_s: 30s}\n")
    return path


def _run(tmp_path: Path, scenario: Path) -> dict[str, Any]:
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--scenario", str(scenario), "--report-dir", str(out),
                          "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    _assert_link_removed(data)
    return data


def _assert_link_removed(data: dict[str, Any]) -> None:
    """The run's namespace, veths, rules and shaper processes are gone once it exits."""
    found = re.search(rf"netns {re.escape(PREFIX)}([0-9a-f]+)", data["environment"]["l3"])
    assert found, data["environment"]
    link_id = found.group(1)
    left = [e.describe() for e in find_leftovers() if e.link_id == link_id]
    assert not left, f"the run left L3 objects behind: {left}"


def _assert_nothing_lost_or_doubled(data: dict[str, Any]) -> None:
    assert data["verdict"] == "pass", [s for s in data["slos"] if not s["passed"]]
    integrity = data["integrity"]
    assert integrity["generated"] > 100, integrity
    assert integrity["lost"] == 0 and integrity["duplicated"] == 0, integrity
    assert integrity["stored"] == integrity["generated"], integrity
    for dash in data["dashboards"]:
        assert dash["duplicates"] == 0 and dash["missing"] == 0, dash


def _end_to_end(data: dict[str, Any], where: str) -> dict[str, float]:
    figures: dict[str, float] = data["latency_ms"]["end_to_end"][where]
    return figures


def test_delay_raises_end_to_end_p50_inside_its_window_and_loses_nothing(
        tmp_path: Path) -> None:
    scenario = _scenario(tmp_path / "l3-delay.yaml", "l3-delay",
                         f"  - {{at: 6s, for: 10s, link: ingest,\n"
                         f"     delay: {{latency: {DELAY_MS}ms, direction: both}}}}\n")
    data = _run(tmp_path, scenario)
    assert [(w["kind"], w["status"]) for w in data["fault_windows"]] == [
        ("delay", "applied")], data["fault_windows"]
    _assert_nothing_lost_or_doubled(data)
    inside, outside = _end_to_end(data, "inside_faults"), _end_to_end(data, "outside_faults")
    print(f"\nL3 delay {DELAY_MS}ms each way on ingest: end-to-end p50 inside "
          f"{inside['p50']:.0f} ms (n={inside['count']:.0f}), outside {outside['p50']:.0f} ms "
          f"(n={outside['count']:.0f})")
    assert inside["count"] > 20 and outside["count"] > 20, (inside, outside)
    assert inside["p50"] - outside["p50"] >= DELAY_MS, (inside, outside)


def test_duplicate_corrupt_and_reorder_together_lose_and_double_nothing(
        tmp_path: Path) -> None:
    steps = "".join(
        f"  - {{at: 4s, for: 14s, link: ingest, {fault}}}\n" for fault in (
            "duplicate: {fraction: 0.2, direction: both}",
            "corrupt: {fraction: 0.1, direction: both}",
            "reorder: {fraction: 0.2, gap: 3, direction: both}"))
    data = _run(tmp_path, _scenario(tmp_path / "l3-mangle.yaml", "l3-mangle", steps))
    assert sorted((w["kind"], w["status"]) for w in data["fault_windows"]) == [
        ("corrupt", "applied"), ("duplicate", "applied"), ("reorder", "applied")], \
        data["fault_windows"]
    _assert_nothing_lost_or_doubled(data)
    inside, outside = _end_to_end(data, "inside_faults"), _end_to_end(data, "outside_faults")
    print(f"\nL3 duplicate+corrupt+reorder on ingest: end-to-end p99 inside "
          f"{inside['p99']:.0f} ms, outside {outside['p99']:.0f} ms")
    # One in ten segments corrupted: some request waited for a TCP resend inside the window.
    assert inside["p99"] - outside["p99"] >= MIN_RTO_MS / 2, (inside, outside)
