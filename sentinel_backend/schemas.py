"""The input limits and the JSON Schemas of every request and answer body.

One place states each rule twice over: as a constant that :mod:`.validation` enforces
(hand-written, for speed and precise messages) and as the JSON Schema that the OpenAPI
document (:mod:`.openapi`) publishes. tests/backend/test_openapi.py checks that the two
agree on a corpus of good and bad bodies, so a change to one without the other fails.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMMAND_TYPE_PATTERN",
    "CURSOR_PATTERN",
    "MAX_BATCH",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_DETECTIONS",
    "MAX_ID",
    "MAX_ITEM_KEYS",
    "MAX_NODE_IDS",
    "MAX_REASON",
    "MAX_SEQ",
    "MAX_STRING",
    "MAX_TIME_LENGTH",
    "NODE_ID_PATTERN",
    "REQUEST_SCHEMAS",
    "RESPONSE_SCHEMAS",
    "UUID_PATTERN",
]

# ------------------------------------------------------------------------------ the limits
#: Every string a node sends (a label, the model, a node name, any key or value anywhere in
#: its bodies) is at most this many characters.
MAX_STRING = 256
#: ``detections`` of one detection payload: at most this many items ...
MAX_DETECTIONS = 256
#: ... each an object of at most this many keys.
MAX_ITEM_KEYS = 32
#: Items of one ``POST /api/detections/batch``.
MAX_BATCH = 1000
#: Node ids of one blackout change.
MAX_NODE_IDS = 1000
#: An operator's blackout reason.
MAX_REASON = 1000
#: JSON nesting of any body (objects and lists inside each other).
MAX_DEPTH = 16
#: A timestamp string (``captured_at``, ``captured_from``, ``captured_to``).
MAX_TIME_LENGTH = 64
MAX_SEQ = (1 << 63) - 1  # bigint
MAX_ID = (1 << 63) - 1  # bigint ids
MAX_COUNT = (1 << 31) - 1  # outbox depths and queued counts are int4 columns

NODE_ID_PATTERN = "^[A-Za-z0-9._-]{1,64}$"
COMMAND_TYPE_PATTERN = "^[A-Za-z0-9._-]{1,64}$"
UUID_PATTERN = ("^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                "[0-9a-fA-F]{12}$")
#: A paging cursor (``next_cursor``): the last detection id of the page, in decimal.
CURSOR_PATTERN = "^[0-9]{1,18}$"
_NO_NUL = "^[^\\x00]*$"

# ------------------------------------------------------------------------- building blocks


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_value(string: dict[str, Any], self_name: str) -> dict[str, Any]:
    """Any JSON value whose strings (and keys) follow `string`: what a body may carry in
    the fields the contract leaves open (extra fields, ``detections`` items, payloads)."""
    return {
        "description": "Any JSON value; its strings and keys as stated here; nesting "
                       f"past {MAX_DEPTH} levels may be refused.",
        "anyOf": [
            {"type": "null"}, {"type": "boolean"}, {"type": "number"},
            string,
            {"type": "array", "items": _ref(self_name)},
            {"type": "object", "propertyNames": string,
             "additionalProperties": _ref(self_name)},
        ],
    }


_NODE_STRING = {"type": "string", "maxLength": MAX_STRING, "pattern": _NO_NUL}
_CLEAN_STRING = {"type": "string", "pattern": _NO_NUL}
_NODE_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NODE_ID_PATTERN}
_TIME = {"type": "string", "format": "date-time", "maxLength": MAX_TIME_LENGTH,
         "description": "RFC 3339 with a zone (Z or +hh:mm), e.g. 2026-11-22T10:00:00Z"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}
_FINITE = {"type": "number"}  # JSON has no NaN/Infinity; a literal that overflows is a 400


def _open_object(properties: dict[str, Any], required: list[str], extra: str,
                 description: str, **more: Any) -> dict[str, Any]:
    """An object with documented `properties`; other fields are any value of `extra`."""
    return {"type": "object", "description": description, "properties": properties,
            "required": required, "propertyNames": (_NODE_STRING if extra == "NodeValue"
                                                    else _CLEAN_STRING),
            "additionalProperties": _ref(extra), **more}


_LOCATION = _open_object(
    {"latitude": {"type": "number", "minimum": -90, "maximum": 90},
     "longitude": {"type": "number", "minimum": -180, "maximum": 180},
     "altitude_m": {"anyOf": [_FINITE, {"type": "null"}]},
     "accuracy_m": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}},
    ["latitude", "longitude"], "NodeValue", "Where the node was.")

_DETECTION_ITEM = {
    "type": "object", "maxProperties": MAX_ITEM_KEYS,
    "description": f"One object the model found (e.g. label, confidence, bbox, track_id): "
                   f"at most {MAX_ITEM_KEYS} keys.",
    "propertyNames": _NODE_STRING, "additionalProperties": _ref("NodeValue"),
}

_DETECTION = _open_object(
    {"node_id": _NODE_ID,
     "seq": {"type": "integer", "minimum": 1, "maximum": MAX_SEQ,
             "description": "The node's own counter from 1: with node_id, the identity."},
     "event_id": {"anyOf": [{"type": "string", "pattern": UUID_PATTERN}, {"type": "null"}]},
     "captured_at": _TIME,
     "location": _ref("Location"),
     "detections": {"type": "array", "maxItems": MAX_DETECTIONS,
                    "items": _ref("DetectionItem")},
     "detection_count": {"type": "integer", "minimum": 0, "maximum": MAX_DETECTIONS,
                         "description": "Must equal len(detections) (422 otherwise)."},
     "inference_time_ms": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]},
     "model": {"anyOf": [_NODE_STRING, {"type": "null"}]}},
    ["node_id", "seq", "captured_at", "location", "detections", "detection_count"],
    "NodeValue",
    f"One detection payload. detection_count == len(detections); every string at most "
    f"{MAX_STRING} characters, none with NUL; nesting past {MAX_DEPTH} levels may be "
    "refused. Stored as "
    "sent; 'the same content' is the same canonical JSON.")

_BATCH = {"type": "object", "required": ["items"],
          "description": "Independent items: an invalid one is 422 in its result only.",
          "properties": {"items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                                   "items": {"description": "a Detection; checked on "
                                                            "its own"}}}}

_REGISTRATION = _open_object(
    {"node_id": _NODE_ID,
     "name": {"anyOf": [_NODE_STRING, {"type": "null"}]},
     "model": {"anyOf": [_NODE_STRING, {"type": "null"}]},
     "location": {"anyOf": [_ref("Location"), {"type": "null"}]}},
    ["node_id"], "NodeValue", "A node's registration (re-registering rotates its token).")

_HEARTBEAT = _open_object(
    {"status": {"enum": ["online", "covert"]},
     "outbox_depth": {"anyOf": [_COUNT, {"type": "null"}]}},
    [], "NodeValue", "A node's heartbeat; {} is enough.")

_REASON = {"type": "string", "maxLength": MAX_REASON, "pattern": _NO_NUL}
_NODE_IDS = {"type": "array", "minItems": 1, "maxItems": MAX_NODE_IDS, "items": _NODE_ID}


def _blackout(activate: bool) -> dict[str, Any]:
    reason = {**_REASON, "minLength": 1} if activate else {
        "anyOf": [_REASON, {"type": "null"}]}
    return {
        "type": "object",
        "description": ("The nodes as node_ids (a list) or node_id (one node: the Sentinel "
                        "spec's shape), not both." + (" A reason is required." if activate
                                                      else "")),
        "properties": {"node_ids": _NODE_IDS, "node_id": _NODE_ID, "reason": reason},
        "required": ["reason"] if activate else [],
        "oneOf": [{"required": ["node_ids"], "not": {"required": ["node_id"]}},
                  {"required": ["node_id"], "not": {"required": ["node_ids"]}}],
        "propertyNames": _CLEAN_STRING, "additionalProperties": _ref("CleanValue"),
    }


_ACK = _open_object(
    {"ok": {"type": "boolean"},
     "result": {"anyOf": [_open_object(
         {"queued": {"anyOf": [_COUNT, {"type": "null"}]}}, [], "NodeValue",
         "For blackout_off: queued, the detections queued during the blackout."),
         {"type": "null"}]}},
    ["ok"], "NodeValue", "ok false marks the command failed (not retried).")

_COMMAND = _open_object(
    {"node_id": _NODE_ID,
     "type": {"type": "string", "pattern": COMMAND_TYPE_PATTERN},
     "payload": {"type": "object", "propertyNames": _CLEAN_STRING,
                 "additionalProperties": _ref("CleanValue")}},
    ["node_id", "type"], "CleanValue", "A command for one node (payload defaults to {}).")

#: Request bodies by component name.
REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "Location": _LOCATION,
    "DetectionItem": _DETECTION_ITEM,
    "Detection": _DETECTION,
    "DetectionBatch": _BATCH,
    "Registration": _REGISTRATION,
    "Heartbeat": _HEARTBEAT,
    "BlackoutActivate": _blackout(True),
    "BlackoutDeactivate": _blackout(False),
    "CommandAck": _ACK,
    "CommandCreate": _COMMAND,
    "NodeValue": _json_value(_NODE_STRING, "NodeValue"),
    "CleanValue": _json_value(_CLEAN_STRING, "CleanValue"),
}

# ------------------------------------------------------------------------------ the answers
_STR = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_STATUS = {"enum": ["online", "offline", "covert"]}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "required": list(required),
            "properties": {**required, **(optional or {})}}


_NODE = _obj({"node_id": _STR, "status": _STATUS, "last_heartbeat": _NULL_STR,
              "blackout": _BOOL})
_BLACKOUT_ROW = _obj({"id": _INT, "node_id": _STR, "activated_at": _STR,
                      "deactivated_at": _NULL_STR, "activated_by": _STR,
                      "reason": _NULL_STR, "detections_queued": _NULL_INT})
_OUTCOME = _obj({"id": _INT, "node_id": _STR, "seq": _INT, "duplicate": _BOOL})

#: Answer bodies by component name.
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {**_obj({"detail": _STR}, {"id": _INT}),
              "description": "Every 4xx/5xx: what is wrong (409 also names the stored id)."},
    "Registered": _obj({"node_id": _STR, "token": _STR, "status": _STATUS}),
    "HeartbeatAnswer": _obj({"node_id": _STR, "status": _STATUS, "blackout": _BOOL,
                             "pending_commands": _INT, "server_time": _STR}),
    "NodeList": _obj({"nodes": {"type": "array", "items": _NODE}}),
    "NodeStatus": _obj({**_NODE["properties"], "registered_at": _NULL_STR}),
    "DetectionOutcome": _OUTCOME,
    "BatchAnswer": _obj({
        "results": {"type": "array", "items": _obj(
            {"index": _INT, "node_id": _NULL_STR, "seq": _NULL_INT,
             "status": {"enum": [200, 201, 409, 422]}},
            {"id": _NULL_INT, "duplicate": _BOOL, "detail": _STR})},
        "created": _INT, "duplicates": _INT, "conflicts": _INT, "rejected": _INT}),
    "DetectionPage": _obj({
        "items": {"type": "array", "items": _obj(
            {"id": _INT, "stream_seq": _NULL_INT, "committed_at": _NULL_STR,
             "node_id": _STR, "seq": _INT})},
        "next_cursor": _NULL_STR}),
    "BlackoutChange": _obj({"blackouts": {"type": "array", "items": _BLACKOUT_ROW}}),
    "BlackoutList": _obj({"active": {"type": "array", "items": _BLACKOUT_ROW},
                          "log": {"type": "array", "items": _BLACKOUT_ROW}}),
    "CommandList": _obj({"commands": {"type": "array", "items": _obj(
        {"id": _INT, "type": _STR, "payload": {}, "attempt": _INT, "created_at": _STR})}}),
    "AckAnswer": _obj({"id": _INT, "status": {"enum": ["acked", "failed"]}}),
    "CommandCreated": _obj({"id": _INT, "node_id": _STR, "type": _STR,
                            "payload": {"type": "object"}, "status": {"const": "pending"}}),
    "Health": _obj({"status": {"enum": ["ok", "degraded"]}, "database": _BOOL,
                    "stream_head": _INT, "version": _STR}),
    "Probe": _obj({"status": _STR}),
}
