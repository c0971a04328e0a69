"""The ``sentinel-backend`` command: help everywhere, serve on the embedded defaults."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sentinel_backend.pg import free_port

CLI = [sys.executable, "-m", "sentinel_backend"]


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["migrate", "--help"]])
def test_help(args: list[str]) -> None:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "usage: sentinel-backend" in result.stdout


def test_serve_embedded_prints_steps_tokens_and_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k != "DATABASE_URL" and not k.startswith("SENTINEL_")}
    port = free_port()
    data_dir = tmp_path / "pgdata"
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port), "--data-dir", str(data_dir)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "listening on http://" in line:
                break
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as r:
                    assert r.status == 200
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("".join(lines))
        text = "".join(lines)
        assert "starting embedded PostgreSQL in" in text
        assert re.search(r"generated SENTINEL_OPERATOR_TOKEN=op_\S+", text)
        assert re.search(r"PostgreSQL listening on 127\.0\.0\.1:(\d+) \(pid (\d+)", text)
        pg_pid = int(re.search(r"\(pid (\d+)", text).group(1))  # type: ignore[union-attr]
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        assert proc.returncode == 0
        time.sleep(0.2)
        with pytest.raises(ProcessLookupError):
            os.kill(pg_pid, 0)
        assert (data_dir / "PG_VERSION").exists()  # persistent data directory kept
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_missing_database_names_the_setting() -> None:
    env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"}
    result = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_bad_setting_is_named(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "SENTINEL_WS_MAX_BUFFER": "lots"}
    result = subprocess.run([*CLI, "serve", "--port", str(free_port())], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SENTINEL_WS_MAX_BUFFER" in result.stderr


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_killed_with_sigkill_takes_its_embedded_database_down(tmp_path: Path) -> None:
    """`serve` owns the database it started: a kill -9 of serve must not leave PostgreSQL
    running (the harness, which needs the opposite, runs its database itself)."""
    env = {k: v for k, v in os.environ.items()
           if k != "DATABASE_URL" and not k.startswith("SENTINEL_")}
    proc = subprocess.Popen([*CLI, "serve", "--port", str(free_port()), "--ephemeral"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    pg_pid = None
    pg_log: Path | None = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pg_pid is None:
            line = proc.stdout.readline()
            if not line:
                break
            found = re.search(r"PostgreSQL listening on \S+ \(pid (\d+), log (\S+)\)", line)
            if found:
                pg_pid, pg_log = int(found.group(1)), Path(found.group(2))
        assert pg_pid is not None, "serve never reported its PostgreSQL pid"
        assert _pid_alive(pg_pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _pid_alive(pg_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _pid_alive(pg_pid), "PostgreSQL outlived the serve process that owned it"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        if pg_pid is not None and _pid_alive(pg_pid):
            os.kill(pg_pid, signal.SIGKILL)
        if pg_log is not None and pg_log.parent.name.startswith("sentinel-pg-"):
            # serve's throwaway directory: a SIGKILLed serve cannot remove it itself
            shutil.rmtree(pg_log.parent, ignore_errors=True)
