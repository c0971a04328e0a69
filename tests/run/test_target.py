"""`--target`: the fleet against an existing backend, judged from what it can see."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_backend.launcher import BackendProcess

from ._runhelpers import explain, report, sentinel_chaos

pytestmark = pytest.mark.slow


def test_target_mode_judges_from_the_read_api_and_skips_local_faults(
        backend: BackendProcess, tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {"SENTINEL_ENROLLMENT_KEY": backend.enrollment_key,
           "SENTINEL_VIEWER_TOKEN": backend.viewer_token,
           "SENTINEL_OPERATOR_TOKEN": backend.operator_token, "DATABASE_URL": ""}
    proc = sentinel_chaos("run", "--target", backend.url, "--scenario", "smoke",
                          "--nodes", "4", "--dashboards", "1", "--duration", "8s",
                          "--report-dir", str(out), cwd=tmp_path, env=env)
    # smoke requires its faults to exercise idempotency and resume; against a target they
    # cannot run, and the verdict says so instead of passing: every other SLO holds.
    assert proc.returncode == 1, explain(proc)
    data = report(out)
    failed = {s["name"] for s in data["slos"] if not s["passed"]}
    assert failed == {"exercised:idempotency", "exercised:resume"}, explain(proc)
    # Stored set from GET /api/detections: every row hashes to what the ledger generated.
    assert data["integrity"]["generated"] > 20
    assert data["integrity"]["stored"] == data["integrity"]["generated"]
    assert data["integrity"]["altered"] == 0
    skipped = {w["step_index"]: w for w in data["fault_windows"]}
    assert skipped[0]["status"] == "skipped" and "--target" in skipped[0]["reason"]
    assert skipped[1]["status"] == "skipped"
    assert skipped[2]["status"] == "cancelled"  # at 12 s, past the 8 s run


def test_target_without_tokens_is_a_harness_error(tmp_path: Path) -> None:
    env = {"SENTINEL_ENROLLMENT_KEY": "", "SENTINEL_VIEWER_TOKEN": ""}
    proc = sentinel_chaos("run", "--target", "http://127.0.0.1:9", cwd=tmp_path, env=env,
                          timeout=60)
    assert proc.returncode == 2, explain(proc)
    assert "SENTINEL_ENROLLMENT_KEY" in proc.stderr
