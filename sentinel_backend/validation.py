"""Validation of request bodies and parameters, hand-written for speed and for precise messages.

Every input rule of docs/api.md lives here, and only here, so that nothing reaches the
database that it would refuse (a NUL byte in jsonb would otherwise be a 5xx) and every
refusal says what is wrong. Everything raises :class:`Invalid`; the routes choose the
status (422 for a body, 400 for a query or path parameter).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .schemas import (
    COMMAND_TYPE_PATTERN,
    CURSOR_PATTERN,
    MAX_BATCH,
    MAX_COUNT,
    MAX_DEPTH,
    MAX_DETECTIONS,
    MAX_ID,
    MAX_ITEM_KEYS,
    MAX_NODE_IDS,
    MAX_REASON,
    MAX_SEQ,
    MAX_STRING,
    MAX_TIME_LENGTH,
    NODE_ID_PATTERN,
    UUID_PATTERN,
)

__all__ = [
    "MAX_BATCH",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_DETECTIONS",
    "MAX_ID",
    "MAX_ITEM_KEYS",
    "MAX_NODE_IDS",
    "MAX_SEQ",
    "MAX_STRING",
    "NODE_ID_RE",
    "AckBody",
    "BlackoutBody",
    "CommandBody",
    "Detection",
    "DetectionQuery",
    "HeartbeatBody",
    "Invalid",
    "RegistrationBody",
    "ack_body",
    "batch_items",
    "blackout_body",
    "check_clean",
    "check_location",
    "check_node_id",
    "check_object",
    "command_body",
    "decode_cursor",
    "detection_query",
    "encode_cursor",
    "heartbeat_body",
    "int_param",
    "may_hold_nul",
    "needs_deep_check",
    "optional_count",
    "optional_str",
    "parse_json",
    "parse_time",
    "registration_body",
    "validate_detection",
]

# The limits themselves live in .schemas, which also publishes them (OpenAPI).
NODE_ID_RE = re.compile(NODE_ID_PATTERN.strip("^$"))


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
    """A node id: 1..64 characters of ``[A-Za-z0-9._-]``."""
    if not isinstance(value, str) or NODE_ID_RE.fullmatch(value) is None:
        raise Invalid(f"{field} must be 1..64 characters of [A-Za-z0-9._-]")
    return value


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp that carries a zone."""
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH:
        raise Invalid(f"{field} must be an RFC 3339 timestamp string of at most "
                      f"{MAX_TIME_LENGTH} characters")
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


def check_clean(value: Any, field: str, depth: int = 0, max_len: int | None = None) -> None:
    """No NUL in any string or key, no non-finite float, bounded nesting; with `max_len`,
    no string or key longer than that (what a node sends: :data:`MAX_STRING`)."""
    if depth > MAX_DEPTH:
        raise Invalid(f"{field} is nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        if "\x00" in value:
            raise Invalid(f"{field} contains a NUL character")
        if max_len is not None and len(value) > max_len:
            raise Invalid(f"{field} is {len(value)} characters long; at most {max_len}")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise Invalid(f"{field} has a key with a NUL character")
            if max_len is not None and len(key) > max_len:
                raise Invalid(f"{field} has a key of {len(key)} characters; at most "
                              f"{max_len}")
            check_clean(item, f"{field}.{key}", depth + 1, max_len)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_clean(item, f"{field}[{index}]", depth + 1, max_len)
    elif isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{field} must be finite")


def may_hold_nul(body: bytes) -> bool:
    """False when parsed JSON from `body` cannot hold a NUL: in valid JSON a NUL can only
    be written as the escape \\u0000 (orjson refuses raw control characters and
    non-finite numbers), so a body without that escape skips the deep scan."""
    return b"\\u0000" in body


def needs_deep_check(body: bytes) -> bool:
    """False when no JSON parsed from `body` can hold a NUL or a string (or key) longer
    than :data:`MAX_STRING`, so that :func:`validate_detection` may skip its deep scan.

    A string's characters sit between two unescaped quotes and take at least one byte
    each: with no escaped quote in the body and no quote-free run of bytes longer than
    the limit, no string can pass it. Bodies of ordinary detections pass this in a split.
    """
    if b"\\u0000" in body or b'\\"' in body:
        return True
    return len(body) > MAX_STRING and max(map(len, body.split(b'"'))) > MAX_STRING


_REQUIRED = frozenset(("node_id", "seq", "captured_at", "location", "detections",
                       "detection_count"))
_UUID_RE = re.compile(UUID_PATTERN.strip("^$"))


def _integral(value: Any) -> int | None:
    """`value` as an int when it is a JSON integer: an int (not a bool), or a float with
    no fractional part (JSON, and JSON Schema's "integer", make no difference); else None."""
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is float and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _in_range(value: Any, lo: float, hi: float) -> bool:
    """A finite int/float (not bool) within [lo, hi]; exact type checks (orjson types)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value) and lo <= value <= hi
    return kind is int and lo <= value <= hi


def check_location(location: Any) -> dict[str, Any]:
    """A location object (of a detection or a registration): latitude in [-90, 90],
    longitude in [-180, 180], optional finite ``altitude_m`` and ``accuracy_m`` >= 0."""
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
    return location


def validate_detection(obj: Any, deep_check: bool = True) -> Detection:
    """Check one detection object (docs/api.md, "Detections") and compute its canonical
    form.

    Type checks are exact (``type(x) is int``): the objects come from orjson, which makes
    only plain dict/list/str/int/float/bool/None; this keeps the batch path cheap.
    `deep_check=False` skips the recursive scan (NUL, string lengths, nesting); only for
    objects parsed by orjson from a body for which :func:`needs_deep_check` is False.
    """
    if type(obj) is not dict:
        raise Invalid("a detection must be a JSON object")
    missing = _REQUIRED - obj.keys()
    if missing:
        raise Invalid(f"missing field: {', '.join(sorted(missing))}")
    node_id = obj["node_id"]
    check_node_id(node_id)
    seq = obj["seq"]
    if type(seq) is not int:
        seq = _integral(seq)  # 7.0 is the integer 7 in JSON; stored as 7 (once in range)
        if seq is not None and 1 <= seq <= MAX_SEQ:
            obj["seq"] = seq
    if seq is None or not 1 <= seq <= MAX_SEQ:
        raise Invalid("seq must be an integer >= 1 (64-bit)")
    event_id = obj.get("event_id")
    if event_id is not None and (type(event_id) is not str
                                 or _UUID_RE.fullmatch(event_id) is None):
        raise Invalid("event_id must be a UUID string")
    captured_at = parse_time(obj["captured_at"], "captured_at")
    check_location(obj["location"])
    items = obj["detections"]
    if type(items) is not list:
        raise Invalid("detections must be a list")
    if len(items) > MAX_DETECTIONS:
        raise Invalid(f"detections has {len(items)} items; at most {MAX_DETECTIONS}")
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise Invalid(f"detections[{index}] must be an object")
        if len(item) > MAX_ITEM_KEYS:
            raise Invalid(f"detections[{index}] has {len(item)} keys; at most "
                          f"{MAX_ITEM_KEYS}")
    count = obj["detection_count"]
    if type(count) is not int:
        count = _integral(count)
        if count is None:
            raise Invalid("detection_count must be an integer")
        if count == len(items):
            obj["detection_count"] = count
    if count != len(items):
        raise Invalid(f"detection_count is {count} but detections has {len(items)} items")
    inference = obj.get("inference_time_ms")
    if inference is not None and not _in_range(inference, 0.0, math.inf):
        raise Invalid("inference_time_ms must be a finite number >= 0")
    model = obj.get("model")
    if model is not None and (type(model) is not str or len(model) > MAX_STRING):
        raise Invalid(f"model must be a string of at most {MAX_STRING} characters")
    if deep_check:
        check_clean(obj, "detection", max_len=MAX_STRING)
    try:
        canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # e.g. integers past 64 bits from a non-orjson caller
        raise Invalid(f"detection holds a value that cannot be stored: {exc}") from None
    return Detection(node_id, seq, event_id, captured_at, obj, canonical.decode(),
                     hashlib.sha256(canonical).digest())


# ---------------------------------------------------------------- other bodies and parameters
COMMAND_TYPE_RE = re.compile(COMMAND_TYPE_PATTERN.strip("^$"))
_CURSOR_RE = re.compile(CURSOR_PATTERN.strip("^$"))


def check_object(body: Any, field: str = "body", max_len: int | None = None) -> dict[str, Any]:
    """A JSON object with no NUL, no non-finite number, bounded nesting and, with
    `max_len`, bounded strings (see check_clean)."""
    if not isinstance(body, dict):
        raise Invalid(f"{field} must be a JSON object")
    check_clean(body, field, max_len=max_len)
    return body


def optional_str(body: dict[str, Any], name: str, max_len: int = MAX_STRING) -> str | None:
    """``body[name]``: absent/null, or a string of at most `max_len` characters."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise Invalid(f"{name} must be a string of at most {max_len} characters")
    return value


def optional_count(value: Any, field: str) -> int | None:
    """Absent/null, or a non-negative integer that fits the int4 columns."""
    if value is None:
        return None
    count = _integral(value)
    if count is None or not 0 <= count <= MAX_COUNT:
        raise Invalid(f"{field} must be an integer in [0, {MAX_COUNT}]")
    return count


def int_param(raw: str | None, name: str, lo: int, hi: int) -> int | None:
    """A query or path parameter: absent (None) or an integer in [lo, hi]."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise Invalid(f"{name} must be in [{lo}, {hi}]")
    return value


def encode_cursor(last_id: int) -> str:
    """The paging cursor after detection `last_id`: opaque to clients (they pass
    ``next_cursor`` back), but of a shape a JSON Schema can state (:data:`CURSOR_PATTERN`)."""
    return str(last_id)


def decode_cursor(cursor: str) -> int:
    """The detection id a cursor of :func:`encode_cursor` continues after."""
    if _CURSOR_RE.fullmatch(cursor) is None:
        raise Invalid("cursor is not one this server issued")
    return int(cursor)


@dataclass(frozen=True, slots=True)
class RegistrationBody:
    """``POST /api/nodes/register``."""

    node_id: str
    name: str | None
    model: str | None
    location: dict[str, Any] | None


def registration_body(body: Any) -> RegistrationBody:
    obj = check_object(body, max_len=MAX_STRING)
    node_id = check_node_id(obj.get("node_id"))
    name = optional_str(obj, "name")
    model = optional_str(obj, "model")
    location = obj.get("location")
    return RegistrationBody(node_id, name, model,
                            None if location is None else check_location(location))


@dataclass(frozen=True, slots=True)
class HeartbeatBody:
    """``POST /api/nodes/{node_id}/heartbeat``."""

    status: str
    outbox_depth: int | None


def heartbeat_body(body: Any) -> HeartbeatBody:
    obj = check_object(body, max_len=MAX_STRING)
    status = obj.get("status", "online")
    if status not in ("online", "covert"):
        raise Invalid("status must be 'online' or 'covert'")
    return HeartbeatBody(status, optional_count(obj.get("outbox_depth"), "outbox_depth"))


def batch_items(body: Any) -> list[Any]:
    """The items of ``POST /api/detections/batch`` (each is validated on its own)."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise Invalid('body must be {"items": [detection, ...]}')
    items: list[Any] = body["items"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise Invalid(f"items must hold 1..{MAX_BATCH} detections, not {len(items)}")
    return items


@dataclass(frozen=True, slots=True)
class DetectionQuery:
    """The query of ``GET /api/detections``; `after_id` comes from the cursor."""

    node_id: str | None
    captured_from: datetime | None
    captured_to: datetime | None
    after_seq: int | None
    limit: int
    after_id: int


def detection_query(params: Mapping[str, str]) -> DetectionQuery:
    node_id = check_node_id(params["node_id"]) if "node_id" in params else None
    since = (parse_time(params["captured_from"], "captured_from")
             if "captured_from" in params else None)
    until = parse_time(params["captured_to"], "captured_to") if "captured_to" in params else None
    after_seq = int_param(params.get("after_seq"), "after_seq", 0, MAX_ID)
    limit = int_param(params.get("limit"), "limit", 1, 1000)
    after_id = decode_cursor(params["cursor"]) if "cursor" in params else 0
    return DetectionQuery(node_id, since, until, after_seq, 100 if limit is None else limit,
                          after_id)


@dataclass(frozen=True, slots=True)
class BlackoutBody:
    """``POST /api/blackout/activate`` and ``/deactivate``."""

    node_ids: list[str]
    reason: str | None


def blackout_body(body: Any, *, activate: bool) -> BlackoutBody:
    """Distinct node ids (first occurrence order); a reason is required to activate.

    The nodes come as ``node_ids`` (a list) or as ``node_id`` (one node, the Sentinel
    spec's shape), not both."""
    obj = check_object(body)
    if "node_id" in obj:
        if "node_ids" in obj:
            raise Invalid("give node_ids (a list) or node_id (one node), not both")
        node_ids = [check_node_id(obj["node_id"])]
    else:
        ids = obj.get("node_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_NODE_IDS:
            raise Invalid(f"node_ids must be a list of 1..{MAX_NODE_IDS} node ids "
                          "(or node_id: one node id)")
        node_ids = list(dict.fromkeys(check_node_id(i, "node_ids[]") for i in ids))
    reason = optional_str(obj, "reason", MAX_REASON)
    if activate and not reason:
        raise Invalid("reason is required to activate a blackout")
    return BlackoutBody(node_ids, reason)


@dataclass(frozen=True, slots=True)
class AckBody:
    """``POST /api/nodes/{node_id}/commands/{id}/ack``; `queued` is ``result.queued``."""

    ok: bool
    result: dict[str, Any] | None
    queued: int | None


def ack_body(body: Any) -> AckBody:
    obj = check_object(body, max_len=MAX_STRING)
    ok = obj.get("ok")
    if not isinstance(ok, bool):
        raise Invalid("ok must be true or false")
    result = obj.get("result")
    if result is not None and not isinstance(result, dict):
        raise Invalid("result must be an object")
    queued = optional_count((result or {}).get("queued"), "result.queued")
    return AckBody(ok, result, queued)


@dataclass(frozen=True, slots=True)
class CommandBody:
    """``POST /api/commands``."""

    node_id: str
    type: str
    payload: dict[str, Any]


def command_body(body: Any) -> CommandBody:
    obj = check_object(body)
    node_id = check_node_id(obj.get("node_id"))
    ctype = obj.get("type")
    if not isinstance(ctype, str) or COMMAND_TYPE_RE.fullmatch(ctype) is None:
        raise Invalid("type must be 1..64 characters of [A-Za-z0-9._-]")
    payload = obj.get("payload", {})
    if not isinstance(payload, dict):
        raise Invalid("payload must be an object")
    return CommandBody(node_id, ctype, payload)
