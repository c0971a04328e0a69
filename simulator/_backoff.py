"""Retry timing: exponential backoff with full jitter, and Retry-After parsing.

Full jitter (delay uniform in [0, min(cap, base * 2**attempt)]) spreads a fleet
that failed together so it does not come back as one wave; an explicit
``Retry-After`` from the backend overrides it, because the server knows its load.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

__all__ = ["backoff_ceiling", "full_jitter", "parse_retry_after"]


def backoff_ceiling(attempt: int, base: float, cap: float) -> float:
    """Upper bound of the delay before retry number ``attempt`` (1-based)."""
    if attempt <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(attempt - 1, 30))))


def full_jitter(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """A delay drawn uniformly from [0, backoff_ceiling(attempt)]."""
    r = rng.random() if rng is not None else random.random()
    return r * backoff_ceiling(attempt, base, cap)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), else None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if now is None:
            import time

            now = time.time()
        return max(0.0, when.timestamp() - now)
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds
