"""Crash-class faults end to end: ``sentinel-chaos run`` with the database killed,
power-cut and cut off and the backend frozen, judged by the verdict.

Acked means durable: with the backend's default ``synchronous_commit = on`` nothing acked
may be lost to any of them. The planted ``SENTINEL_FAULT_SYNC_COMMIT_OFF`` acks a commit
before its WAL is flushed; only a power cut (the unsynced writes of the lazy filesystem
thrown away) can see that, and the verdict must then call those detections ``lost``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from run._runhelpers import explain, report, sentinel_chaos

pytestmark = [pytest.mark.slow, pytest.mark.chaos, pytest.mark.usefixtures("fuse")]

# crash-drill (chaos/scenario/builtin/crash-drill.yaml), shortened: all five steps.
SHORT_DRILL = """\
    name: short-crash-drill
    description: "crash-drill, shortened: every crash-class step once."
    duration: 40s
    drain: 40s
    fleet: {nodes: 10, rate: 2, dashboards: 1}
    steps:
      - {at: 4s, for: 2s, kill_db: {}}
      - {at: 12s, for: 2s, power_cut: {}}
      - {at: 19s, for: 3s, pause_backend: {}}
      - {at: 25s, for: 3s, link: database, cut: {}}
      - {at: 31s, for: 5s, clock_skew: {share: 0.3, offset: 2h}}
    slos: {max_lost: 0, max_duplicated: 0, max_missing: 0, drain_timeout_s: 40s}
    """

# A commit acked with its WAL flush deferred is lost only if the power goes within a few
# milliseconds (any synchronously committed write flushes the WAL before it), so each cut
# lands on a tick of the fleet (every node posts at once, on the half second), while the
# tick's commits are being acked, and after the first cut the retries keep them coming.
# Measured with 5 cuts: 5 of 5 runs lost 1 to 26 acked detections, about half the cuts
# losing some; 7 cuts make a run that loses nothing unlikely (about 1 in 100).
POWER_CUTS = """\
    name: power-cuts
    description: "Power cuts under a steady fleet: nothing acked may be lost."
    duration: 42s
    drain: 40s
    fleet: {nodes: 50, rate: 2, dashboards: 1}
    steps:
      - {at: 3s, for: 1s, power_cut: {}}
      - {at: 9s, for: 1s, power_cut: {}}
      - {at: 15s, for: 1s, power_cut: {}}
      - {at: 21s, for: 1s, power_cut: {}}
      - {at: 27s, for: 1s, power_cut: {}}
      - {at: 33s, for: 1s, power_cut: {}}
      - {at: 39s, for: 1s, power_cut: {}}
    slos: {max_lost: 0, max_duplicated: 0, drain_timeout_s: 40s}
    """

DATABASE_LINK_CUT = """\
    name: database-link-cut
    description: "The backend cut off from PostgreSQL during ingest: 503s, nothing lost."
    duration: 16s
    drain: 30s
    fleet: {nodes: 10, rate: 4, dashboards: 1}
    steps:
      - {at: 4s, for: 4s, link: database, cut: {}}
    slos: {max_lost: 0, max_duplicated: 0, max_missing: 0, drain_timeout_s: 30s}
    """


def _run(tmp_path: Path, scenario: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    """One run of ``scenario`` (YAML text); its exit code, report.json and an explanation."""
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(scenario))
    reports = tmp_path / "report"
    proc = sentinel_chaos("run", "--scenario", str(path), "--report-dir", str(reports),
                          "--state-dir", str(tmp_path / "state"), "--quiet", *extra,
                          cwd=tmp_path)
    why = explain(proc)
    assert proc.returncode in (0, 1), why  # 2: the harness itself could not run
    return proc.returncode, report(reports), why


def _slo(data: dict[str, Any], name: str) -> dict[str, Any]:
    (slo,) = (s for s in data["slos"] if s["name"] == name)
    return dict(slo)


def _outcomes_within(window: dict[str, Any], evidence: dict[str, Any]) -> list[str]:
    """The outcomes of the fleet's posts tried while ``window``'s fault was in place."""
    return [a["outcome"] for g in evidence["generated"] for a in g["attempts"]
            if window["started_at"] <= a["at"] <= window["ended_at"]]


def test_the_short_crash_drill_passes_with_every_step_applied(tmp_path: Path) -> None:
    code, data, why = _run(tmp_path, SHORT_DRILL)
    windows = data["fault_windows"]
    assert [w["kind"] for w in windows] == ["kill_db", "power_cut", "pause_backend", "cut",
                                            "clock_skew"], why
    assert {w["status"] for w in windows} == {"applied"}, [(w["kind"], w["reason"])
                                                           for w in windows]
    assert not data["skipped_steps"], data["skipped_steps"]
    assert code == 0, why
    assert data["integrity"]["lost"] == 0 and data["coverage"]["paths"]["db_outage"] >= 3


@pytest.mark.xfail(strict=False, reason=(
    "a power cut loses an acked-but-unflushed commit only when it lands within the WAL "
    "writer's few milliseconds after the ack: measured, runs with 5-7 cuts lost 26, 25, 17, 10, "
    "6, 5, 3, 1 and 0 acked detections; not every run catches it"))
def test_synchronous_commit_off_loses_acked_detections_to_power_cuts(tmp_path: Path) -> None:
    code, data, why = _run(tmp_path, POWER_CUTS,
                           "--backend-env", "SENTINEL_FAULT_SYNC_COMMIT_OFF=1")
    lost = _slo(data, "lost")
    print(f"lost to 7 power cuts with synchronous_commit off: {lost['measured']:.0f} "
          f"({lost['detail']})")
    assert {w["status"] for w in data["fault_windows"]} == {"applied"}, data["fault_windows"]
    assert code == 1, why
    assert lost["status"] == "FAIL" and lost["measured"] >= 1, why
    assert data["accounting"]["lost"] == lost["measured"]
    assert not data["harness_errors"], data["harness_errors"]


def test_a_database_link_cut_during_ingest_answers_503_and_loses_nothing(
        tmp_path: Path) -> None:
    code, data, why = _run(tmp_path, DATABASE_LINK_CUT)
    (window,) = data["fault_windows"]
    assert window["status"] == "applied" and window["link"] == "database", window
    evidence = json.loads((tmp_path / "report" / "evidence.json").read_text())
    outcomes = _outcomes_within(window, evidence)
    print(f"answers during the cut: { {o: outcomes.count(o) for o in sorted(set(outcomes))} }")
    assert "503" in outcomes, outcomes
    assert code == 0, why
    assert data["integrity"]["lost"] == 0 and data["coverage"]["paths"]["db_outage"] == 1
