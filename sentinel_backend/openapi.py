"""The OpenAPI document (``GET /openapi.json``, ``/docs``), written from the contract.

FastAPI would describe routes that take a bare :class:`Request` as bodiless and answering
only 200/422, and would not see the hot routes registered as plain Starlette routes at
all. This module states instead, per operation: the request body (the JSON Schemas of
:mod:`.schemas`, the validator's own limits), the token it needs, every status it can
answer with the error body and its headers, and the WebSocket protocol in the document's
description. docs/api.md is the prose of the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from .schemas import (
    CURSOR_PATTERN,
    MAX_ID,
    NODE_ID_PATTERN,
    REQUEST_SCHEMAS,
    RESPONSE_SCHEMAS,
)

__all__ = ["OPERATIONS", "Operation", "build_openapi"]

_STATUS_TEXT = {
    200: "OK", 201: "Created", 400: "Not JSON, or a bad query or path parameter",
    401: "No bearer token, or an unknown one", 403: "A known token of the wrong role or node",
    404: "Unknown node or command", 409: "This identity was stored with other content",
    413: "Body larger than SENTINEL_MAX_BODY_BYTES (default 1 MiB)",
    422: "A JSON body whose fields are wrong (the detail names the field and the limit)",
    429: "Overloaded, or too many failed authentications: retry after Retry-After seconds",
    503: "Database unavailable: retry after Retry-After seconds",
}

_ROLE_TEXT = {
    "enrollment": "the enrollment key (SENTINEL_ENROLLMENT_KEY)",
    "node": "the node's own token (from register)",
    "operator": "the operator token (SENTINEL_OPERATOR_TOKEN)",
    "viewer": "the viewer token (SENTINEL_VIEWER_TOKEN)",
}


@dataclass(frozen=True)
class Operation:
    """One documented operation: who may call it, its body, its answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    roles: tuple[str, ...] = ()
    body: str | None = None
    ok: dict[int, str] = field(default_factory=lambda: {200: "Probe"})
    errors: tuple[int, ...] = ()
    query: tuple[dict[str, Any], ...] = ()
    media_type: str = "application/json"


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


_TIME_PARAM = {"type": "string", "format": "date-time", "maxLength": 64}
_WRITE = (400, 401, 403, 413, 422, 429, 503)
_READ = (401, 403, 503)

OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/api/nodes/register", "register_node", "Register (or re-register) a node",
              ("enrollment",), "Registration", {201: "Registered", 200: "Registered"}, _WRITE),
    Operation("post", "/api/nodes/{node_id}/heartbeat", "heartbeat", "A node's heartbeat",
              ("node",), "Heartbeat", {200: "HeartbeatAnswer"}, (*_WRITE, 404)),
    Operation("get", "/api/nodes", "list_nodes", "Every node", ("viewer", "operator"),
              ok={200: "NodeList"}, errors=_READ),
    Operation("get", "/api/nodes/{node_id}/status", "node_status", "One node's status",
              ("node", "viewer", "operator"), ok={200: "NodeStatus"}, errors=(*_READ, 404)),
    Operation("post", "/api/detections", "post_detection", "Store one detection",
              ("node",), "Detection", {201: "DetectionOutcome", 200: "DetectionOutcome"},
              (*_WRITE, 409)),
    Operation("post", "/api/detections/batch", "post_detection_batch",
              "Store 1..1000 detections (a result per item)", ("node",), "DetectionBatch",
              {200: "BatchAnswer"}, _WRITE),
    Operation("get", "/api/detections", "list_detections", "Stored detections, paged by id",
              ("viewer", "operator"), ok={200: "DetectionPage"}, errors=(400, *_READ),
              query=(_q("node_id", {"type": "string", "pattern": NODE_ID_PATTERN}, "one node"),
                     _q("captured_from", _TIME_PARAM, "captured at or after (RFC 3339)"),
                     _q("captured_to", _TIME_PARAM, "captured at or before (RFC 3339)"),
                     _q("after_seq", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                        "only items with a stream seq above this"),
                     _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                        "page size (default 100)"),
                     _q("cursor", {"type": "string", "pattern": CURSOR_PATTERN},
                        "next_cursor of the previous page"))),
    Operation("post", "/api/blackout/activate", "blackout_activate",
              "Put nodes in blackout", ("operator",), "BlackoutActivate",
              {200: "BlackoutChange"}, (*_WRITE, 404)),
    Operation("post", "/api/blackout/deactivate", "blackout_deactivate",
              "End nodes' blackout", ("operator",), "BlackoutDeactivate",
              {200: "BlackoutChange"}, (*_WRITE, 404)),
    Operation("get", "/api/blackout", "blackout_list", "Active blackouts and the log",
              ("viewer", "operator"), ok={200: "BlackoutList"}, errors=_READ),
    Operation("get", "/api/nodes/{node_id}/commands", "claim_commands",
              "Claim the node's due commands (they become delivered)", ("node",),
              ok={200: "CommandList"}, errors=(*_READ, 404)),
    Operation("post", "/api/nodes/{node_id}/commands/{command_id}/ack", "ack_command",
              "Ack (ok) or refuse (not ok) a delivered command", ("node",), "CommandAck",
              {200: "AckAnswer"}, (*_WRITE, 404)),
    Operation("post", "/api/commands", "create_command", "Queue a command for a node",
              ("operator",), "CommandCreate", {201: "CommandCreated"}, (*_WRITE, 404)),
    Operation("get", "/health", "health", "Status, database reachability, stream head",
              ok={200: "Health"}),
    Operation("get", "/health/live", "live", "200 while the process serves"),
    Operation("get", "/health/ready", "ready", "200 when the database answers",
              errors=(503,)),
    Operation("get", "/metrics", "metrics", "Prometheus metrics", ok={200: ""},
              media_type=CONTENT_TYPE_LATEST.split(";")[0]),
)

_WS_PROTOCOL = """
## The stream: `WS /ws?since=N&token=...` (viewer or operator token)

Not an HTTP operation, so described here. Every frame is one JSON text frame:
`{"type": "hello", "since": N, "head": M, "heartbeat_s": 5, "server_time": "..."}` first;
`{"type": "events", "events": [event, ...]}` (consecutive, in seq order, no gaps);
`{"type": "heartbeat", "head": M, "server_time": "..."}` every SENTINEL_WS_HEARTBEAT_S.
An event is `{"type": "detection"|"node_status"|"blackout", "seq", "committed_at", "data"}`.
With `since=N` every event with seq > N arrives exactly once (replay, then live).
Close codes: 4401 bad or missing token, 4403 wrong role, 4400 invalid `since`, 4008 too slow
(resume with `since`), 4429 too many failed authentications from this address, 1013
database down, 1011 unexpected server error.

Every answer carries `X-Request-ID`. Input limits and the field names accepted from the
Sentinel spec are in docs/api.md.
"""


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    if "{node_id}" in path:
        params.append({"name": "node_id", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": NODE_ID_PATTERN}})
    if "{command_id}" in path:
        params.append({"name": "command_id", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                       "description": "not an integer in range: 400"})
    return params


def _error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": _STATUS_TEXT[status], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if status in (429, 503):
        answer["headers"] = {"Retry-After": {"required": True, "description": "seconds",
                                             "schema": {"type": "string",
                                                        "pattern": "^[0-9]+$"}}}
    elif status == 401:
        answer["headers"] = {"WWW-Authenticate": {"required": True,
                                                  "schema": {"const": "Bearer"}}}
    return answer


def _operation(op: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, schema in op.ok.items():
        content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema}"}
                                   } if schema else {"schema": {"type": "string"}}
        responses[str(status)] = {"description": _STATUS_TEXT[status],
                                  "content": {op.media_type: content}}
    # A token check can always fail, and past the failed-authentication budget of the
    # caller's address its 401/403 becomes a 429 (docs/api.md, "Failed authentication").
    errors = set(op.errors) | ({401, 403, 429} if op.roles else set())
    for status in sorted(errors):
        responses[str(status)] = _error_response(status)
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                           "responses": responses}
    if op.roles:
        out["security"] = [{"bearer": []}]
        out["description"] = "Token: " + ", or ".join(_ROLE_TEXT[r] for r in op.roles) + "."
        out["x-sentinel-roles"] = list(op.roles)
    else:
        out["security"] = []
        out["description"] = "No token needed."
    params = [*_path_params(op.path), *op.query]
    if params:
        out["parameters"] = params
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{op.body}"}}}}
    return out


def build_openapi(version: str) -> dict[str, Any]:
    """The whole document (OpenAPI 3.1; JSON Schema 2020-12 for the bodies)."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "sentinel_backend", "version": version,
                 "description": "The Sentinel resilient backend API: detections acked "
                                "after commit, a gap-free stream, blackout and node "
                                "commands. Errors are {\"detail\": ...}.\n" + _WS_PROTOCOL},
        "paths": paths,
        "components": {
            "schemas": {**REQUEST_SCHEMAS, **RESPONSE_SCHEMAS},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "Authorization: Bearer <token>; which token each operation "
                               "needs is in its description (x-sentinel-roles)."}},
        },
    }
