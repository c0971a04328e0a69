"""``clock_skew``: nodes whose clocks are wrong lose nothing, their ``captured_at`` is really
off in the database, and the end-to-end latency is still judged from the true time.

The run skews the same nodes 2 h ahead, then 2 h behind: a clock ahead that the judge
ignored would only give negative latencies (the p99 would not show it), one behind gives
a p99 of hours."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import asyncpg
import pytest

from chaos.scenario import ScenarioError, load_scenario_text
from chaos.scenario._durations import format_offset, parse_offset
from chaos.scenario.steps.clock_skew import ClockSkew
from sentinel_backend.launcher import BackendProcess

from ._runhelpers import explain, report, sentinel_chaos

SKEW_S = 7200.0


def _steps(steps: str) -> str:
    return f"name: t\nduration: 30s\nsteps:\n{steps}"


@pytest.mark.parametrize(("text", "seconds", "shown"), [
    ("2h", 7200.0, "+2h"), ("-90s", -90.0, "-1m30s"), ("1h30m", 5400.0, "+1h30m"),
    ("+45m", 2700.0, "+45m"), (-3, -3.0, "-3s")])
def test_offsets_are_signed_durations_with_hours(text: str | int, seconds: float,
                                                  shown: str) -> None:
    assert parse_offset(text) == seconds
    assert format_offset(seconds) == shown


def test_the_step_parses_a_share_or_listed_nodes() -> None:
    scenario = load_scenario_text(_steps(
        "  - {at: 1s, for: 5s, clock_skew: {share: 0.25, offset: 2h}}\n"
        "  - {at: 7s, for: 5s, clock_skew: {nodes: [edge-0003], offset: -90s}}\n"), "t.yaml")
    first, second = (step.action for step in scenario.steps)
    assert isinstance(first, ClockSkew) and isinstance(second, ClockSkew)
    assert first.describe() == "clocks +2h on 25% of nodes"
    assert first.targets([f"edge-{i:04d}" for i in range(1, 9)]) == ["edge-0001", "edge-0005"]
    assert second.describe() == "clocks -1m30s on edge-0003"
    assert second.targets(["edge-0001"]) == ["edge-0003"]


@pytest.mark.parametrize(("params", "message"), [
    ("{share: 0.25}", "offset"),
    ("{share: 0.25, offset: soon}", "expected an offset like"),
    ("{share: 0.25, offset: 0s}", "an offset of 0"),
    ("{offset: 2h}", "exactly one of 'share'"),
    ("{nodes: [], offset: 2h}", "at least one node id"),
])
def test_a_bad_step_is_refused_naming_the_field(params: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario_text(_steps(f"  - {{at: 1s, for: 5s, clock_skew: {params}}}\n"),
                           "t.yaml")


def test_two_overlapping_skews_are_refused() -> None:
    with pytest.raises(ScenarioError, match="overlaps"):
        load_scenario_text(_steps(
            "  - {at: 1s, for: 5s, clock_skew: {share: 0.5, offset: 2h}}\n"
            "  - {at: 3s, for: 5s, clock_skew: {share: 0.5, offset: -2h}}\n"), "t.yaml")


async def _stored_times(database_url: str, node_ids: list[str]
                        ) -> dict[tuple[str, int], tuple[float, float]]:
    """(node_id, seq) -> (captured_at, committed_at) as the database holds them."""
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT node_id, seq, extract(epoch FROM captured_at)::float8 AS captured, "
            "extract(epoch FROM committed_at)::float8 AS committed "
            "FROM detections WHERE node_id = ANY($1::text[])", node_ids)
    finally:
        await conn.close()
    return {(r["node_id"], int(r["seq"])): (float(r["captured"]), float(r["committed"]))
            for r in rows}


@pytest.mark.slow
def test_a_2h_skew_loses_nothing_and_latency_uses_the_true_time(
        backend: BackendProcess, tmp_path: Path) -> None:
    scenario = tmp_path / "skew.yaml"
    scenario.write_text(textwrap.dedent("""\
        name: skew
        description: "Half the nodes' clocks 2 h ahead, then 2 h behind: nothing lost."
        duration: 14s
        drain: 20s
        fleet: {nodes: 4, rate: 4, dashboards: 1}
        steps:
          - {at: 2s, for: 4s, clock_skew: {share: 0.5, offset: 2h}}
          - {at: 8s, for: 4s, clock_skew: {share: 0.5, offset: -2h}}
        slos: {drain_timeout_s: 20s}
        """))
    out = tmp_path / "report"
    env = {"SENTINEL_ENROLLMENT_KEY": backend.enrollment_key,
           "SENTINEL_VIEWER_TOKEN": backend.viewer_token,
           "SENTINEL_OPERATOR_TOKEN": backend.operator_token,
           "DATABASE_URL": backend.database_url}
    proc = sentinel_chaos("run", "--target", backend.url, "--scenario", str(scenario),
                          "--report-dir", str(out), "--state-dir", str(tmp_path / "state"),
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    assert data["verdict"] == "pass"
    assert [(w["description"], w["status"]) for w in data["fault_windows"]] == [
        ("clocks +2h on 50% of nodes", "applied"), ("clocks -2h on 50% of nodes", "applied")]
    integrity = data["integrity"]
    assert integrity["lost"] == 0 and integrity["duplicated"] == 0
    assert integrity["stored"] == integrity["generated"] > 50

    evidence = json.loads((out / "evidence.json").read_text())
    skew = {(g["node_id"], g["seq"]): g["clock_skew_s"] for g in evidence["generated"]}
    skewed_nodes = sorted({node for (node, _seq), s in skew.items() if s})
    assert len(skewed_nodes) == 2, skewed_nodes  # half of 4 nodes
    named = ", ".join(skewed_nodes)
    assert data["environment"]["clock skew"] == f"+2h: {named}; -2h: {named}"
    assert {s for s in skew.values() if s} == {SKEW_S, -SKEW_S}

    node_ids = sorted({node for node, _seq in skew})
    stored = asyncio.run(_stored_times(backend.database_url, node_ids))
    assert set(stored) == set(skew)
    # captured_at minus committed_at: the skew, less the few ms from capture to commit.
    offsets = {ident: cap - com for ident, (cap, com) in stored.items()}
    for wanted in (SKEW_S, -SKEW_S, 0.0):
        some = [(i, off) for i, off in offsets.items() if skew[i] == wanted]
        assert len(some) > 5, wanted
        assert all(wanted - 10 < off <= wanted + 0.01 for _i, off in some), some[:5]

    # End to end, judged from the true generation time: seconds at most, not hours.
    e2e = data["latency_ms"]["end_to_end"]["all"]
    assert e2e["count"] > 50
    assert 0 <= e2e["p99"] < 5_000, e2e
    assert e2e["max"] < 60_000, e2e
