"""Retry timing: full-jitter bounds and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from simulator._backoff import backoff_ceiling, full_jitter, parse_retry_after


def test_ceiling_doubles_then_caps() -> None:
    assert [backoff_ceiling(a, 0.2, 5.0) for a in range(0, 7)] == [
        0.0, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0,
    ]
    assert backoff_ceiling(1000, 0.2, 5.0) == 5.0


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(1)
    draws = [full_jitter(4, 0.2, 5.0, rng) for _ in range(2000)]
    assert all(0 <= d <= 1.6 for d in draws)
    assert min(draws) < 0.1 and max(draws) > 1.5  # full jitter, not "equal" jitter
    mean = sum(draws) / len(draws)
    assert 0.7 < mean < 0.9


def test_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("-1") is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == 7.0
