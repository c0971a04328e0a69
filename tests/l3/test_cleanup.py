"""Cleanup is guaranteed: on exit, on exceptions, on SIGINT and SIGTERM; leftovers of a
crashed run (kill -9) are removed by `sentinel-chaos netns cleanup`, and only ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.l3 import Link, find_leftovers, open_link, remove_leftovers

OWNER = Path(__file__).with_name("_crashing_owner.py")
ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ids() -> set[str]:
    return {e.link_id for e in find_leftovers()}


def _start_owner() -> tuple[subprocess.Popen[str], str, int]:
    proc = subprocess.Popen([sys.executable, str(OWNER)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", f"owner did not start: {line!r}"
    return proc, line[1], int(line[2])


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_exception_in_context_removes_everything() -> None:
    with pytest.raises(RuntimeError), open_link() as link:
        link.partition("both")
        child = link.popen(["sleep", "300"])
        assert link.id in _ids()
        raise RuntimeError("boom")
    assert link.closed
    assert link.id not in _ids()
    assert _wait_gone(child.pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_removes_everything(signum: int) -> None:
    owner, link_id, child = _start_owner()
    try:
        assert link_id in _ids()
        owner.send_signal(signum)
        owner.wait(timeout=20)
        assert link_id not in _ids()
        assert _wait_gone(child), "process in the namespace survived its link"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        assert owner.stdout is not None
        owner.stdout.close()


def test_cleanup_command_removes_a_crashed_runs_leftovers_only() -> None:
    owner, link_id, child = _start_owner()
    with open_link() as live:  # a live run's link: must survive the sweep
        try:
            owner.kill()  # kill -9: no handler runs
            owner.wait(timeout=10)
            crashed = {e.link_id: e for e in find_leftovers()}
            assert link_id in crashed and not crashed[link_id].owner_alive
            assert crashed[live.id].owner_alive
            out = subprocess.run(
                [sys.executable, "-m", "chaos.cli", "netns", "cleanup"],
                capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
            ).stdout
            assert f"removed {link_id}" in out
            assert f"kept (owner running; --all to remove) {live.id}" in out
            assert link_id not in _ids()
            assert live.id in _ids()
            assert _wait_gone(child), "the crashed run's process in the namespace survived"
            live.set_loss(0.1)  # still works
        finally:
            if owner.poll() is None:
                owner.kill()
                owner.wait()
            assert owner.stdout is not None
            owner.stdout.close()
    assert live.id not in _ids()


def test_remove_leftovers_ignores_foreign_names() -> None:
    """Namespaces not carrying our prefix are never touched (nor are live runs' links:
    never `include_live` here, other runs may share this host)."""
    foreign = f"scx{os.getpid()}"
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        remove_leftovers()
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert foreign in names
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=False)


def test_close_is_idempotent_and_faults_refuse_after_close(link: Link) -> None:
    link.close()
    link.close()
    with pytest.raises(Exception, match="closed"):
        link.set_loss(0.5)
