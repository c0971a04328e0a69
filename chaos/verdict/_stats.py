"""Percentiles without numpy (nearest-rank, so every reported value was actually measured)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Percentiles:
    """Milliseconds. ``count`` = 0 means nothing was measured (all values are then ``None``)."""

    count: int
    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def percentiles(values_ms: Sequence[float]) -> Percentiles:
    if not values_ms:
        return Percentiles(0, None, None, None, None)
    ordered = sorted(values_ms)
    return Percentiles(count=len(ordered), p50=nearest_rank(ordered, 50),
                       p95=nearest_rank(ordered, 95), p99=nearest_rank(ordered, 99),
                       max=ordered[-1])
