"""The fleet's clock samples: round trips that carried the server's time, kept bounded.

Heartbeat answers (``POST /api/nodes/{id}/heartbeat``) and each dashboard's ``hello``
frame carry ``server_time`` stamped while the server handled that very request, so each
is one :class:`simulator.clock_offset.ClockSample`. Pushed frames (the stream's own
heartbeats, events) are not: nobody knows when they were asked for. A 10,000-node fleet
answers about a thousand heartbeats a second, so only a recent window is kept (the
clocks may drift apart over a long run; the estimate should describe the end of it) and
only the lowest-round-trip samples of it are written to the ledger: the others carry
little information (see ``simulator.clock_offset``).
"""

from __future__ import annotations

import collections
import logging

from simulator.clock_offset import ClockSample, OffsetEstimate, estimate_offset, parse_server_time

__all__ = ["ClockSampler"]

log = logging.getLogger("simulator.fleet")

RECENT_SAMPLES = 2048
"""Samples kept in memory (the most recent ones)."""
LEDGER_SAMPLES = 64
"""Lowest-round-trip samples of the recent window written to the ledger at close."""


class ClockSampler:
    """Collects ``(t_send, server_time, t_recv)`` exchanges; all times epoch seconds."""

    def __init__(self, keep: int = RECENT_SAMPLES) -> None:
        self._samples: collections.deque[ClockSample] = collections.deque(maxlen=keep)
        self._bad = 0

    def __len__(self) -> int:
        return len(self._samples)

    def add(self, t_send: float, server_time: object, t_recv: float) -> None:
        """One exchange; a missing or unreadable ``server_time`` (an older backend) is
        skipped, never an error: the run then simply has no offset estimate."""
        if not isinstance(server_time, str):
            return
        try:
            sample = ClockSample(t_send, parse_server_time(server_time), t_recv)
        except ValueError:
            self._bad += 1
            if self._bad == 1:
                log.warning("unreadable server_time %r: not used as a clock sample",
                            server_time)
            return
        self._samples.append(sample)

    def best(self, count: int = LEDGER_SAMPLES) -> list[ClockSample]:
        """The ``count`` lowest-round-trip samples of the recent window."""
        return sorted(self._samples, key=lambda s: s.rtt)[:count]

    def estimate(self) -> OffsetEstimate | None:
        """The offset from the recent window; ``None`` without samples."""
        if not self._samples:
            return None
        return estimate_offset(self._samples)
