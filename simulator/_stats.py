"""Cheap running statistics for the progress line and the bench.

A fixed millisecond histogram: O(1) per sample, percentiles by a cumulative
scan, so recording 100,000 latencies a second costs nothing worth measuring.
"""

from __future__ import annotations

import operator

__all__ = ["LatencyMeters", "MsHistogram"]


class MsHistogram:
    """Latency histogram with 1 ms buckets up to ``max_ms`` (everything above lands in the last)."""

    __slots__ = ("buckets", "count", "max_ms", "max_seen")

    def __init__(self, max_ms: int = 60_000) -> None:
        self.max_ms = max_ms
        self.buckets = [0] * (max_ms + 1)
        self.count = 0
        self.max_seen = 0.0

    def add(self, ms: float) -> None:
        i = int(ms)
        if i < 0:
            i = 0
        elif i > self.max_ms:
            i = self.max_ms
        self.buckets[i] += 1
        self.count += 1
        if ms > self.max_seen:
            self.max_seen = ms

    def merge(self, other: MsHistogram) -> None:
        if other.count:
            self.buckets = list(map(operator.add, self.buckets, other.buckets))
        self.count += other.count
        self.max_seen = max(self.max_seen, other.max_seen)

    def percentile(self, p: float) -> float | None:
        """Upper edge (ms) of the bucket holding the p-th percentile, None when empty."""
        if self.count == 0:
            return None
        target = max(1, int(self.count * p / 100.0 + 0.999999))
        seen = 0
        for i, n in enumerate(self.buckets):
            seen += n
            if seen >= target:
                return float(i + 1)
        return float(self.max_ms)

    def reset(self) -> None:
        if self.count == 0:
            return
        self.buckets = [0] * (self.max_ms + 1)
        self.count = 0
        self.max_seen = 0.0


class LatencyMeters:
    """The fleet's latency histograms: this second's windows and the whole run's totals.

    Dashboards write delivery and end-to-end latencies into the windows, the ticker
    writes its scheduling lag; once a second the windows give the progress line its
    p99 and are then rolled into the totals (``roll``), so the per-second figure and
    the run's figure come from the same samples.
    """

    __slots__ = ("delivery", "delivery_window", "e2e", "e2e_window", "lag", "lag_window")

    def __init__(self) -> None:
        self.delivery = MsHistogram()
        self.e2e = MsHistogram()
        self.delivery_window = MsHistogram()
        self.e2e_window = MsHistogram()
        self.lag = MsHistogram(10_000)
        self.lag_window = MsHistogram(10_000)

    def roll(self) -> None:
        """Fold this second's windows into the run's totals and start the next second."""
        self.delivery.merge(self.delivery_window)
        self.e2e.merge(self.e2e_window)
        self.delivery_window.reset()
        self.e2e_window.reset()
        self.lag_window.reset()
