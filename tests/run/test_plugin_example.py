"""The README's resilience gate, run exactly as written (so the docs stay true), and the
plugin's contract: loaded through its entry point, it starts nothing by itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ._runhelpers import explain

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    found = re.search(r"<!-- plugin-example -->\n```python\n(.*?)```\n<!-- /plugin-example -->",
                      text, re.S)
    assert found, "README.md lost its <!-- plugin-example --> block"
    return found.group(1)


def _pytest(path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # A directory of its own: no project conftest, no ini; the plugin comes in via pytest11.
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args, path.name], cwd=path.parent, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_the_readme_example_is_ten_lines_or_less() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 10, lines


@pytest.mark.slow
@pytest.mark.chaos
def test_the_readme_gate_passes_as_written(tmp_path: Path) -> None:
    gate = tmp_path / "test_gate.py"
    gate.write_text(readme_example())
    proc = _pytest(gate, timeout=280)
    assert proc.returncode == 0, explain(proc)
    assert "1 passed" in proc.stdout


def test_the_plugin_registers_fixtures_and_marker_and_starts_nothing(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import sys\n\n"
        "def test_probe():\n"
        "    heavy = {'chaos.stack', 'chaos.runner', 'simulator', 'sentinel_backend', 'httpx'}\n"
        "    assert not heavy & set(sys.modules), heavy & set(sys.modules)\n")
    proc = _pytest(probe, "--fixtures", timeout=60)
    for name in ("sentinel_stack", "toxiproxy_control", "sentinel_fleet", "chaos_scenario"):
        assert name in proc.stdout, explain(proc)
    proc = _pytest(probe, "--markers", timeout=60)
    assert "@pytest.mark.chaos" in proc.stdout, explain(proc)
    proc = _pytest(probe, timeout=60)
    assert proc.returncode == 0, explain(proc)
