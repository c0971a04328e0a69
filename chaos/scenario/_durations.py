"""Durations as people write them: ``20s``, ``1m30s``, ``500ms``, ``1.5`` (seconds)."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """Return seconds; raise ``ValueError`` for anything that is not a non-negative duration.

    A bare number means seconds. Units may be chained largest first (``1m30s``) so a
    scenario reads like a stopwatch rather than like arithmetic.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '20s', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if not text:
            raise ValueError("expected a duration like '20s', got ''")
        if _NUMBER.fullmatch(text):
            return parse_duration(float(text))
        pos = 0
        seconds = 0.0
        for match in _PART.finditer(text):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNIT_S[match.group(2)]
            pos = match.end()
        if pos != len(text):
            raise ValueError(f"expected a duration like '20s', got {value!r}")
    else:
        raise ValueError(f"expected a duration like '20s', got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a non-negative duration, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse for display: ``90.0`` -> ``1m30s``, ``0.5`` -> ``500ms``."""
    if seconds < 1 and seconds != 0:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60.0)
    if minutes >= 1:
        return f"{int(minutes)}m{rest:g}s" if rest else f"{int(minutes)}m"
    return f"{rest:g}s"
