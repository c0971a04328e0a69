"""Validation of request bodies, hand-written for speed and for precise messages.

Every rule of contract 6 lives here, so that nothing reaches the database that it would
refuse (a NUL byte in jsonb would otherwise be a 5xx) and every refusal says what is wrong.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "Detection",
    "Invalid",
    "check_node_id",
    "may_hold_nul",
    "parse_json",
    "parse_time",
    "validate_detection",
]

NODE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_DETECTIONS = 256
MAX_SEQ = (1 << 63) - 1
MAX_DEPTH = 16


class Invalid(ValueError):
    """A request body or parameter is malformed; the message says what is wrong."""


@dataclass(slots=True)
class Detection:
    """A validated detection: its identity, its canonical payload and the content hash."""

    node_id: str
    seq: int
    event_id: str | None
    captured_at: datetime
    payload: dict[str, Any]
    payload_json: str
    content_hash: bytes


def parse_json(body: bytes) -> Any:
    """Strict JSON (orjson refuses NaN/Infinity and numbers that overflow to infinity)."""
    if not body:
        raise Invalid("request body is empty; a JSON object is expected")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"body is not valid JSON: {exc}") from None


def check_node_id(value: Any, field: str = "node_id") -> str:
    if not isinstance(value, str) or NODE_ID_RE.fullmatch(value) is None:
        raise Invalid(f"{field} must be 1..64 characters of [A-Za-z0-9._-]")
    return value


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp that carries a zone."""
    if not isinstance(value, str) or len(value) > 64:
        raise Invalid(f"{field} must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} is not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise Invalid(f"{field} must carry a zone (e.g. +00:00 or Z)")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"{field} is out of range once converted to UTC") from None
    return parsed


def check_clean(value: Any, field: str, depth: int = 0) -> None:
    """No NUL in any string or key, no non-finite float, bounded nesting, int64 range."""
    if depth > MAX_DEPTH:
        raise Invalid(f"{field} is nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"{field} contains a NUL character")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise Invalid(f"{field} has a key with a NUL character")
            check_clean(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_clean(item, f"{field}[{index}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{field} must be finite")


def may_hold_nul(body: bytes) -> bool:
    """False when parsed JSON from `body` cannot hold a NUL: in valid JSON a NUL can only
    be written as the escape \\u0000 (orjson refuses raw control characters and
    non-finite numbers), so a body without that escape skips the deep scan."""
    return b"\\u0000" in body


_REQUIRED = frozenset(("node_id", "seq", "captured_at", "location", "detections",
                       "detection_count"))
_UUID_RE = re.compile(
    r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


def _in_range(value: Any, lo: float, hi: float) -> bool:
    """A finite int/float (not bool) within [lo, hi]; exact type checks (orjson types)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value) and lo <= value <= hi
    return kind is int and lo <= value <= hi


def validate_detection(obj: Any, deep_check: bool = True) -> Detection:
    """Check one detection object (contract 1 + 6) and compute its canonical form.

    Type checks are exact (``type(x) is int``): the objects come from orjson, which makes
    only plain dict/list/str/int/float/bool/None; this keeps the batch path cheap.
    `deep_check=False` skips the recursive NUL/finite scan; only for objects parsed by
    orjson from a body for which :func:`may_hold_nul` is False.
    """
    if type(obj) is not dict:
        raise Invalid("a detection must be a JSON object")
    missing = _REQUIRED - obj.keys()
    if missing:
        raise Invalid(f"missing field: {', '.join(sorted(missing))}")
    node_id = obj["node_id"]
    if type(node_id) is not str or NODE_ID_RE.fullmatch(node_id) is None:
        raise Invalid("node_id must be 1..64 characters of [A-Za-z0-9._-]")
    seq = obj["seq"]
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise Invalid("seq must be an integer >= 1 (64-bit)")
    event_id = obj.get("event_id")
    if event_id is not None and (type(event_id) is not str
                                 or _UUID_RE.fullmatch(event_id) is None):
        raise Invalid("event_id must be a UUID string")
    captured_at = parse_time(obj["captured_at"], "captured_at")
    location = obj["location"]
    if type(location) is not dict:
        raise Invalid("location must be an object with latitude and longitude")
    if not _in_range(location.get("latitude"), -90.0, 90.0):
        raise Invalid("location.latitude must be a number in [-90, 90]")
    if not _in_range(location.get("longitude"), -180.0, 180.0):
        raise Invalid("location.longitude must be a number in [-180, 180]")
    altitude = location.get("altitude_m")
    if altitude is not None and not _in_range(altitude, -math.inf, math.inf):
        raise Invalid("location.altitude_m must be a finite number")
    accuracy = location.get("accuracy_m")
    if accuracy is not None and not _in_range(accuracy, 0.0, math.inf):
        raise Invalid("location.accuracy_m must be a finite number >= 0")
    items = obj["detections"]
    if type(items) is not list:
        raise Invalid("detections must be a list")
    if len(items) > MAX_DETECTIONS:
        raise Invalid(f"detections has {len(items)} items; at most {MAX_DETECTIONS}")
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise Invalid(f"detections[{index}] must be an object")
    count = obj["detection_count"]
    if type(count) is not int:
        raise Invalid("detection_count must be an integer")
    if count != len(items):
        raise Invalid(f"detection_count is {count} but detections has {len(items)} items")
    inference = obj.get("inference_time_ms")
    if inference is not None and not _in_range(inference, 0.0, math.inf):
        raise Invalid("inference_time_ms must be a finite number >= 0")
    model = obj.get("model")
    if model is not None and (type(model) is not str or len(model) > 128):
        raise Invalid("model must be a string of at most 128 characters")
    if deep_check:
        check_clean(obj, "detection")
    try:
        canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # e.g. integers past 64 bits from a non-orjson caller
        raise Invalid(f"detection holds a value that cannot be stored: {exc}") from None
    return Detection(node_id, seq, event_id, captured_at, obj, canonical.decode(),
                     hashlib.sha256(canonical).digest())
