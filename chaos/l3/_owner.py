"""Which process owns a link, robust to pid reuse (pid + its start time)."""

from __future__ import annotations

import contextlib


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/pid/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    with contextlib.suppress(IndexError, ValueError):
        return int(stat.rsplit(")", 1)[1].split()[19])
    return None


def owner_alive(pid: int | None, start: int | None) -> bool:
    """True if the process that created a link is still running."""
    if not pid:
        return False
    now = process_start_time(pid)
    return now is not None and (start is None or now == start)
