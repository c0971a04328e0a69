"""A ``--target`` run corrects for the backend's clock: a planted shift of its clock
(``SENTINEL_FAULT_CLOCK_SHIFT_S``) is found within the estimate's uncertainty, and the
delivery latencies stay milliseconds instead of the shift's seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.report.summary import run_notes, with_run_notes
from sentinel_backend.faults import PlantedFaults
from sentinel_backend.launcher import BackendProcess

from ._runhelpers import explain, report, sentinel_chaos

SHIFT_S = 3.0

#: No fault steps (a target cannot be broken from here) and nothing required exercised.
STEADY = """\
name: steady-target
description: "A steady fleet without fault steps, for runs against a --target backend."
duration: 8s
drain: 30s
fleet:
  nodes: 4
  rate: 3
  dashboards: 2
steps: []
slos:
  max_lost: 0
  max_duplicated: 0
  max_missing: 0
  delivery_p99_ms: 500
  drain_timeout_s: 30s
"""


def steady_scenario(directory: Path) -> Path:
    path = directory / "steady-target.yaml"
    path.write_text(STEADY)
    return path


def test_the_clock_shift_fault_reads_seconds_either_way_and_shifts_server_now() -> None:
    faults = PlantedFaults.from_env({"SENTINEL_FAULT_CLOCK_SHIFT_S": "-2.5"})
    assert faults.clock_shift_s == -2.5 and faults.active
    assert "-2.5 s" in faults.describe()
    assert abs((PlantedFaults().server_now() - faults.server_now()).total_seconds()
               - 2.5) < 1.0
    with pytest.raises(ValueError, match="SENTINEL_FAULT_CLOCK_SHIFT_S"):
        PlantedFaults.from_env({"SENTINEL_FAULT_CLOCK_SHIFT_S": "soon"})


def test_the_summary_head_says_insecure_and_the_offset() -> None:
    summary = "PASS  x: all 3 SLOs held\n" + "=" * 60 + "\n  SLO ...\n"
    notes = run_notes({"tls": "INSECURE: certificates not verified (--insecure)"},
                      3.0012, 0.0004)
    lines = with_run_notes(summary, notes).splitlines()
    assert lines[0].startswith("PASS")
    assert "INSECURE" in lines[2]
    assert "+3001.2 ms" in lines[3] and "± 0.4 ms" in lines[3]
    assert with_run_notes(summary, run_notes({}, None, None)) == summary


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_target_run_finds_the_backends_clock_offset_and_corrects_for_it(
        backend_factory: Callable[..., BackendProcess], tmp_path: Path) -> None:
    backend = backend_factory(env={"SENTINEL_FAULT_CLOCK_SHIFT_S": str(SHIFT_S)})
    out = tmp_path / "report"
    env = {"SENTINEL_ENROLLMENT_KEY": backend.enrollment_key,
           "SENTINEL_VIEWER_TOKEN": backend.viewer_token,
           "SENTINEL_OPERATOR_TOKEN": backend.operator_token,
           # The planted shift is in what the backend sends, not in its database's
           # columns: judge from the API, which sees one consistently wrong clock.
           "DATABASE_URL": ""}
    proc = sentinel_chaos("run", "--target", backend.url,
                          "--scenario", str(steady_scenario(tmp_path)),
                          "--report-dir", str(out), cwd=tmp_path, env=env)
    assert proc.returncode == 0, explain(proc)
    data = report(out)
    offset, uncertainty = data["run"]["clock_offset_s"], data["run"]["clock_uncertainty_s"]
    assert offset is not None and uncertainty is not None, explain(proc)
    # Loopback: round trips of a millisecond or so; the planted shift is the whole offset.
    assert abs(offset - SHIFT_S) <= uncertainty + 0.002, (offset, uncertainty)
    assert uncertainty < 0.05, uncertainty
    # Uncorrected, every delivery would be about 3000 ms late (or early).
    p99 = data["latency_ms"]["delivery"]["all"]["p99"]
    assert p99 is not None and 0 <= p99 < 250, explain(proc)
    assert data["integrity"]["stored"] == data["integrity"]["generated"] > 20
    assert "clock offset" in data["environment"]
    assert "judging" in data["environment"]
    assert "backend clock: +300" in proc.stdout, explain(proc)
