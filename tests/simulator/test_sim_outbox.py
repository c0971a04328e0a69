"""Store-and-forward without a backend: a dead link, kill -9, restart with the same state dir.

The target is a loopback port nobody listens on (a dead link, not a fake backend):
nodes cannot register or send, so everything they generate must stay in the
outbox, and a SIGKILL must neither lose it nor let a restarted node reuse a seq.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator import free_port


def _start(state: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "fleet", "--target", f"http://127.0.0.1:{port}",
         "--nodes", "20", "--rate", "20", "--dashboards", "0", "--duration", "60",
         "--state", str(state), "--enrollment-key", "unused", "--quiet", "--drain-timeout", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _rows(db: Path) -> dict[tuple[int, int], tuple[int, int]]:
    c = sqlite3.connect(db)
    try:
        gen = {(r[0], r[1]): (r[2], r[3]) for r in c.execute(
            "SELECT node_idx, seq, captured_us, hash FROM generated")}
        out = {(r[0], r[1]) for r in c.execute("SELECT node_idx, seq FROM outbox")}
        nxt = dict(c.execute("SELECT idx, next_seq FROM node WHERE owned = 1").fetchall())
    finally:
        c.close()
    assert set(gen) == out, "every generated, unacked detection must be in the outbox"
    for idx, n in nxt.items():
        seqs = sorted(s for (i, s) in gen if i == idx)
        assert seqs == list(range(1, n)), f"node {idx}: seqs not 1..next_seq-1"
    return gen


def _wait_rows(db: Path, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                c = sqlite3.connect(db)
                n = c.execute("SELECT COUNT(*) FROM generated").fetchone()[0]
                c.close()
                if n >= at_least:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.1)
    pytest.fail(f"fewer than {at_least} detections generated in {timeout} s")


def test_kill9_keeps_outbox_and_seq(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "fleet.db"
    p = _start(tmp_path, port)
    try:
        _wait_rows(db, 200, 20)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
        first = _rows(db)
        p = _start(tmp_path, port)
        _wait_rows(db, len(first) + 200, 20)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
    second = _rows(db)
    assert all(second[k] == v for k, v in first.items()), "a first-run detection changed"
    kill_us = max(v[0] for v in first.values())
    assert all(v[0] >= kill_us for k, v in second.items() if k not in first)
