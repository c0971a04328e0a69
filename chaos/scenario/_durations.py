"""Durations as people write them: ``20s``, ``1m30s``, ``2h``, ``500ms``, ``1.5`` (seconds);
signed offsets (``-90s``, ``+1h30m``) for steps that shift something rather than last."""

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


def parse_offset(value: object) -> float:
    """Return signed seconds: a duration with an optional leading ``+`` or ``-``
    (``-90s``, ``2h``, ``+1h30m``), or a number of seconds of either sign. ``ValueError``
    otherwise. A clock that is behind is as real in the field as one that is ahead."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(float(value)):
            raise ValueError(f"expected an offset like '-90s' or '2h', got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        sign = -1.0 if text.startswith("-") else 1.0
        body = text[1:] if text[:1] in ("+", "-") else text
        if body.strip()[:1] in ("+", "-", ""):
            raise ValueError(f"expected an offset like '-90s' or '2h', got {value!r}")
        try:
            return sign * parse_duration(body)
        except ValueError:
            raise ValueError(f"expected an offset like '-90s' or '2h', got {value!r}") from None
    raise ValueError(f"expected an offset like '-90s' or '2h', got {value!r}")


def format_offset(seconds: float) -> str:
    """Signed, with hours for long ones: ``7200`` -> ``+2h``, ``-90`` -> ``-1m30s``,
    ``5400`` -> ``+1h30m``."""
    sign = "-" if seconds < 0 else "+"
    rest = abs(seconds)
    hours, rest = divmod(rest, 3600.0)
    if hours < 1:
        return sign + format_duration(rest)
    return f"{sign}{int(hours)}h" + (format_duration(rest) if rest else "")
