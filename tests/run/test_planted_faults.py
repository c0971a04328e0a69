"""The harness must be able to fail: each fault planted in the backend turns the verdict red
on the SLO it breaks, while the clean backend passes the same scenario.

The backend reads the planted faults from opt-in ``SENTINEL_FAULT_*`` settings (never set
in production; the list is in ``sentinel_backend/faults.py``). The stack passes them
through ``StackOptions.backend_env``; ``sentinel-chaos selftest`` runs every one against
the scenario meant to expose it (the whole of it runs in CI, here its list and one case).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos.verdict import Verdict
from sentinel_backend.launcher import BackendProcess, BackendStartError

pytestmark = [pytest.mark.slow, pytest.mark.chaos]

SCENARIO = textwrap.dedent("""\
    name: planted
    description: "Steady traffic, no network faults: only the backend's planted fault."
    duration: 10s
    drain: 20s
    fleet: {nodes: 5, rate: 4, dashboards: 2}
    slos: {drain_timeout_s: 20s}
    """)


def _backend_has_planted_faults() -> bool:
    root = Path(__file__).resolve().parents[2] / "sentinel_backend"
    found = subprocess.run(["grep", "-rq", "SENTINEL_FAULT", str(root)], check=False)
    return found.returncode == 0


# Without the settings in the backend the runs cannot turn red: not run (saves CI time).
needs_planted = pytest.mark.xfail(
    not _backend_has_planted_faults(), reason="planted faults not in backend yet",
    strict=False, run=False)


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    path = tmp_path / "planted.yaml"
    path.write_text(SCENARIO)
    return path


def test_the_clean_backend_passes(chaos_scenario: Callable[..., Verdict], planted: Path
                                  ) -> None:
    verdict = chaos_scenario(planted)
    assert verdict.passed, [(s.name, s.measured, s.detail) for s in verdict.failed_slos]


@needs_planted
@pytest.mark.parametrize(("setting", "value", "breaks"), [
    ("SENTINEL_FAULT_DROP_ONE_IN", "25", {"lost"}),
    ("SENTINEL_FAULT_STREAM_DELAY_MS", "1500", {"delivery_p99"}),
    ("SENTINEL_FAULT_STREAM_SKIP_ONE_IN", "25", {"missing:dash-000", "missing:dash-001"}),
])
def test_a_planted_fault_turns_the_verdict_red(
        chaos_scenario: Callable[..., Verdict], planted: Path, setting: str, value: str,
        breaks: set[str]) -> None:
    verdict = chaos_scenario(planted, backend_env={setting: value})
    failed = {s.name for s in verdict.failed_slos}
    assert not verdict.passed
    assert breaks <= failed, (setting, failed)
    assert not verdict.harness_errors, verdict.harness_errors


SELFTEST = [sys.executable, "-m", "chaos.cli", "selftest"]


@pytest.mark.parametrize(("setting", "bad"), [
    ("SENTINEL_FAULT_ACK_BEFORE_COMMIT", "soon"),
    ("SENTINEL_FAULT_STREAM_ALTER_ONE_IN", "-3"),
    ("SENTINEL_FAULT_PHANTOM_ONE_IN", "1.5"),
    ("SENTINEL_FAULT_NO_IDEMPOTENCY", "maybe"),
    ("SENTINEL_FAULT_BLACKOUT_UNDELIVERED", "2"),
    ("SENTINEL_FAULT_SYNC_COMMIT_OFF", "offish"),
    ("SENTINEL_FAULT_AUDIT_SEPARATE_TX", "2s"),
    ("SENTINEL_FAULT_AUDIT_DROP_ONE_IN", "-1"),
])
def test_a_bad_planted_fault_value_is_refused_at_startup(
        backend_factory: Callable[..., BackendProcess], setting: str, bad: str) -> None:
    with pytest.raises(BackendStartError) as refused:
        backend_factory(env={setting: bad})
    assert f"{setting}={bad!r}" in str(refused.value)


def test_selftest_lists_every_case_with_its_scenario_and_slo() -> None:
    result = subprocess.run([*SELFTEST, "--list"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = {line.split()[0] for line in lines}
    assert {"clean", "drop", "ack-before-commit", "stream-alter", "phantom", "no-idempotency",
            "blackout-undelivered", "audit-separate-tx", "audit-drop"} <= names
    assert any("selftest-retry" in line and "caught by duplicated" in line for line in lines)


def test_selftest_refuses_an_unknown_case() -> None:
    result = subprocess.run([*SELFTEST, "--only", "no-such-fault"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "no-such-fault" in result.stderr


def test_selftest_runs_a_case_end_to_end_and_reports_it_caught(tmp_path: Path) -> None:
    result = subprocess.run([*SELFTEST, "--only", "drop", "--report-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[1/1] drop: start selftest-steady" in result.stdout
    table = result.stdout.split("planted fault", 1)[1]
    row = next(line for line in table.splitlines() if line.startswith("DROP_ONE_IN=25"))
    assert "lost" in row and "CAUGHT" in row
    assert (tmp_path / "drop" / "report.json").is_file()
