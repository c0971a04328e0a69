"""No secret in what a run leaves behind, except in its private state directory.

A short scenario runs against the embedded stack and against ``--target``; then every file
the run wrote (report directory, JUnit, the harness's output, the backend's log) is searched
for every secret the run used: the enrollment key, the operator and viewer tokens and every
node token, read back from the state directory's ``fleet.db`` (where they must be, so the
search is shown able to find them).
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sentinel_backend.launcher import BackendProcess

from ._runhelpers import RUN_TIMEOUT_S, explain, report

pytestmark = pytest.mark.slow

TOKEN_VARS = ("SENTINEL_ENROLLMENT_KEY", "SENTINEL_OPERATOR_TOKEN", "SENTINEL_VIEWER_TOKEN")
POLL_S = 0.2


def _node_tokens(state_dir: Path) -> list[str]:
    tokens: list[str] = []
    for db in [state_dir / "fleet.db", *sorted(state_dir.glob("shard-*/fleet.db"))]:
        if db.exists():
            with sqlite3.connect(db) as conn:
                tokens += [str(t) for (t,) in conn.execute(
                    "SELECT token FROM node WHERE token IS NOT NULL")]
    return tokens


def _leaks(secrets: dict[str, str], where: dict[str, bytes]) -> list[str]:
    return [f"{name} in {place}" for place, data in where.items()
            for name, secret in secrets.items() if secret.encode() in data]


def _files(*roots: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            out[str(path)] = path.read_bytes()
    return out


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _backend_of(harness: int) -> int | None:
    """The embedded backend (``python -m sentinel_backend serve``) under `harness`."""
    todo, seen = [harness], 0
    while todo and seen < 200:
        pid = todo.pop()
        seen += 1
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"sentinel_backend" in cmdline and b"serve" in cmdline:
            return pid
        todo.extend(_children(pid))
    return None


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if b"=" in item)
    return {key: value for key, _, value in pairs}


def _run_watching_backend(args: list[str], cwd: Path, env: dict[str, str]
                          ) -> tuple[subprocess.CompletedProcess[str], dict[str, str], bytes]:
    """Run the CLI; while it runs, read the embedded backend's secrets (its environment)
    and its log (stderr, a file the stack removes when it stops)."""
    full_env = {**os.environ, **env}
    with subprocess.Popen([sys.executable, "-m", "chaos.cli", *args], cwd=cwd, env=full_env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        secrets: dict[str, str] = {}
        log = b""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        box: dict[str, str] = {}
        reader = threading.Thread(target=lambda: box.update(
            zip(("out", "err"), proc.communicate(timeout=RUN_TIMEOUT_S), strict=True)))
        reader.start()
        while reader.is_alive() and time.monotonic() < deadline:
            pid = _backend_of(proc.pid)
            if pid is not None:
                try:
                    environ = _environ(pid)
                    secrets.update({k: environ[k] for k in TOKEN_VARS if environ.get(k)})
                    log = max(log, Path(f"/proc/{pid}/fd/2").read_bytes(), key=len)
                except OSError:
                    pass
            reader.join(POLL_S)
        reader.join(10)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, box.get("out", ""),
                                           box.get("err", ""))
    return done, secrets, log


def _check(out: Path, junit: Path, state_root: Path, static: dict[str, str],
           proc: subprocess.CompletedProcess[str], logs: dict[str, bytes]) -> None:
    data = report(out)
    state_dir = Path(data["run"]["state_dir"])
    assert state_dir.parent == state_root, data["run"]
    assert out.resolve() not in state_dir.resolve().parents
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "fleet.db").stat().st_mode) == 0o600
    node_tokens = _node_tokens(state_dir)
    assert len(node_tokens) >= 3, node_tokens
    secrets = dict(static)
    secrets.update({f"node token #{i}": t for i, t in enumerate(node_tokens)})
    # The search finds them where they are meant to be: the state directory.
    assert _leaks({"a node token": node_tokens[0]}, _files(state_dir))
    where = _files(out, junit)
    where.update({"harness stdout": proc.stdout.encode(), "harness stderr": proc.stderr.encode()})
    where.update(logs)
    assert not _leaks(secrets, where)
    assert not [p for p, d in where.items() if b"token=" in d and b"token=***" not in d]


def test_an_embedded_run_leaves_no_secret_outside_its_state_dir(tmp_path: Path) -> None:
    out, junit, state_root = tmp_path / "report", tmp_path / "ci" / "junit.xml", tmp_path / "st"
    proc, static, log = _run_watching_backend(
        ["run", "--scenario", "smoke", "--nodes", "3", "--dashboards", "1", "--duration", "6s",
         "--report-dir", str(out), "--junit", str(junit), "--state-dir", str(state_root)],
        cwd=tmp_path, env={})
    assert proc.returncode in (0, 1), explain(proc)
    assert sorted(static) == sorted(TOKEN_VARS), "the backend's secrets were not seen"
    assert b"WebSocket" in log or b"backend started" in log, log[-2000:]
    _check(out, junit, state_root, static, proc, {"backend log": log})


def test_a_target_run_and_its_backend_log_leave_no_secret(
        backend_factory: Callable[..., BackendProcess], tmp_path: Path) -> None:
    backend_log = tmp_path / "backend.log"
    backend = backend_factory(access_log=True, log_path=backend_log)
    static = {"SENTINEL_ENROLLMENT_KEY": backend.enrollment_key,
              "SENTINEL_VIEWER_TOKEN": backend.viewer_token,
              "SENTINEL_OPERATOR_TOKEN": backend.operator_token}
    out, junit, state_root = tmp_path / "report", tmp_path / "junit.xml", tmp_path / "st"
    proc = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", "--target", backend.url, "--scenario",
         "smoke", "--nodes", "3", "--dashboards", "1", "--duration", "6s", "--report-dir",
         str(out), "--junit", str(junit), "--state-dir", str(state_root)],
        cwd=tmp_path, env={**os.environ, **static, "DATABASE_URL": ""}, capture_output=True,
        text=True, timeout=RUN_TIMEOUT_S, check=False)
    assert proc.returncode in (0, 1), explain(proc)
    text = backend_log.read_bytes()
    assert b"token=***" in text, text[-2000:]  # uvicorn's WebSocket line, redacted
    _check(out, junit, state_root, static, proc, {"backend log": text})
