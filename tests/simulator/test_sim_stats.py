"""The millisecond histogram behind the progress line's p99."""

from __future__ import annotations

from simulator._stats import MsHistogram


def test_percentiles() -> None:
    h = MsHistogram(1000)
    assert h.percentile(99) is None
    for i in range(1000):
        h.add(i * 0.5)  # 0 .. 499.5 ms
    assert h.percentile(50) == 250.0
    assert h.percentile(99) == 495.0
    h.add(5000)
    assert h.percentile(100) == 1001.0 and h.max_seen == 5000
