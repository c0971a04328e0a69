"""Signals to a process tree of ours, by PID: the root and its descendants, never a name."""

from __future__ import annotations

import contextlib
import os
import signal

import psutil


def _tree(root: int | None) -> list[psutil.Process]:
    if root is None:
        return []
    try:
        parent = psutil.Process(root)
        return [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return []


def signal_tree(root: int | None, sig: int, also: list[int] | None = None) -> list[int]:
    """Send ``sig`` to ``root``, its descendants and the PIDs in ``also``; returns them all."""
    pids = list(dict.fromkeys([p.pid for p in _tree(root)] + list(also or [])))
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    return pids


def kill_tree(root: int, timeout: float = 10.0) -> list[int]:
    """SIGKILL ``root`` and every descendant (root first, so it cannot respawn them), and
    wait until all are gone; returns their PIDs."""
    procs = _tree(root)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    if alive:
        raise RuntimeError(f"processes {[p.pid for p in alive]} survived SIGKILL")
    return [p.pid for p in procs]
