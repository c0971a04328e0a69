"""Once a second: the fleet's ``series`` row in the ledger and the progress line.

The series row is what the report's throughput and backlog charts are drawn from
after the run; the progress line is the same figures for a person watching it.
Both read this second's latency windows, which are then rolled into the run's
totals, so the per-second and whole-run figures come from the same samples.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TextIO

from simulator._counters import FleetCounters
from simulator._recorder import TickRecorder
from simulator._stats import LatencyMeters
from simulator.dashboard import DashboardClient
from simulator.node import NodeState

__all__ = ["ProgressReporter"]

# For how long after the start the line shows how many nodes are registered.
_REGISTRATION_SHOWN_S = 60


class ProgressReporter:
    """Writes one series row (and, when ``show``, one progress line) per second."""

    def __init__(
        self,
        *,
        counters: FleetCounters,
        meters: LatencyMeters,
        recorder: TickRecorder,
        dashboards: Sequence[DashboardClient],
        nodes: dict[int, NodeState],
        show: bool,
        stream: TextIO | None,
        tag: str,
    ) -> None:
        self._counters = counters
        self._meters = meters
        self._recorder = recorder
        self._dashboards = dashboards
        self._nodes = nodes
        self._show = show
        self._stream = stream  # None: stderr as it is when the line is written
        self._tag = tag
        self._started = 0.0
        self._next_second = 0.0
        self._last: tuple[float, int] = (0.0, 0)  # (loop time, acked) of the last row

    def start(self, now: float) -> None:
        self._started = now
        self._next_second = now + 1.0

    def tick(self, now: float) -> bool:
        """Report when a second has passed since the last report; True when it did."""
        if now < self._next_second:
            return False
        self._next_second += 1.0
        if now > self._next_second:
            self._next_second = now + 1.0
        self.report(now)
        return True

    def report(self, now: float, final: bool = False) -> None:
        """The series row and (unless ``final``) the progress line, then roll the windows."""
        c = self._counters
        m = self._meters
        wall_us = time.time_ns() // 1000
        received = sum(d.received for d in self._dashboards)
        c.received_events = received
        prev_t, prev_acked = self._last
        thr = (c.acked - prev_acked) / (now - prev_t) if prev_t and now > prev_t else 0.0
        self._last = (now, c.acked)
        p99 = m.delivery_window.percentile(99)
        lag99 = m.lag_window.percentile(99) or 0.0
        backlog = self._recorder.backlog
        self._recorder.record_series(
            (wall_us, c.generated, c.sent_items, c.acked, backlog, c.retries, received,
             thr, p99, lag99)
        )
        if self._show and not final:
            out = self._stream or sys.stderr
            elapsed = now - self._started
            reg = (
                sum(1 for n in self._nodes.values() if n.token)
                if elapsed < _REGISTRATION_SHOWN_S else None
            )
            out.write(
                f"{self._tag}t={elapsed:6.1f}s gen={c.generated} sent={c.sent_items} "
                f"acked={c.acked} backlog={backlog} retries={c.retries} "
                f"recv={received} p99={'-' if p99 is None else f'{p99:.0f}ms'} "
                f"lag={lag99:.0f}ms"
                + (f" registered={reg}/{len(self._nodes)}" if reg is not None else "")
                + "\n"
            )
            out.flush()
        m.roll()
