"""Helpers for the run tests: the CLI as a subprocess, bounded in time, and its reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RUN_TIMEOUT_S = 300


def sentinel_chaos(*args: str, cwd: Path, timeout: float = RUN_TIMEOUT_S,
                   env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``sentinel-chaos ARGS`` (as ``python -m chaos.cli``), output captured, time bounded."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "chaos.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def report(report_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
    return data


def explain(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n" \
           f"{proc.stderr[-4000:]}"
