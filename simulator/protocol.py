"""The backend's wire contract as a client sees it, in one place (docs/api.md).

Routes, the stream's URL, frames, event types and close codes (with what each close means
for a client), the paging of the stored set ``GET /api/detections`` and the content hash
used to compare what a node sent with what the backend stored. The simulator's fleet and
dashboards, the chaos runner and the Locust users all import these names from here, so the
clients cannot drift apart (they did: one dashboard kept retrying after a 4401 that another
treated as fatal). Everything here is a pure function or a constant: usable by any transport
(asyncio httpx/websockets, gevent urllib/websocket-client). ``tests/simulator/
test_protocol_agreement.py`` checks every name against the server's own definitions.
"""

from __future__ import annotations

import enum
from typing import Any, Final
from urllib.parse import quote, urlencode

import orjson

from simulator.payloads import content_hash

__all__ = [
    "BLACKOUT_ACTIVATE_PATH",
    "BLACKOUT_DEACTIVATE_PATH",
    "BLACKOUT_PATH",
    "CLIENT_ROUTES",
    "CLOSE_BAD_SINCE",
    "CLOSE_BAD_TOKEN",
    "CLOSE_TOO_SLOW",
    "CLOSE_WRONG_ROLE",
    "COMMANDS_PATH",
    "COMMANDS_PATH_TEMPLATE",
    "COMMAND_ACK_PATH_TEMPLATE",
    "DETECTIONS_BATCH_PATH",
    "DETECTIONS_PATH",
    "EVENT_BLACKOUT",
    "EVENT_DETECTION",
    "EVENT_NODE_STATUS",
    "EVENT_TYPES",
    "FATAL_CLOSE_CODES",
    "FRAME_EVENTS",
    "FRAME_HEARTBEAT",
    "FRAME_HELLO",
    "FRAME_TYPES",
    "HEALTH_LIVE_PATH",
    "HEALTH_PATH",
    "HEALTH_READY_PATH",
    "HEARTBEAT_PATH_TEMPLATE",
    "METRICS_PATH",
    "NODES_PATH",
    "NODE_STATUS_PATH_TEMPLATE",
    "REGISTER_PATH",
    "STORED_ONLY_KEYS",
    "STORED_PAGE_MAX",
    "STREAM_PATH",
    "CloseAction",
    "close_action",
    "command_ack_path",
    "commands_path",
    "content_hash",
    "heartbeat_path",
    "node_status_path",
    "parse_frame",
    "parse_stored_page",
    "stored_content_hash",
    "stored_page_params",
    "stream_url",
]

# ------------------------------------------------------------------ routes
REGISTER_PATH: Final = "/api/nodes/register"
#: ``POST`` one detection; ``GET`` pages through the stored set.
DETECTIONS_PATH: Final = "/api/detections"
DETECTIONS_BATCH_PATH: Final = "/api/detections/batch"
NODES_PATH: Final = "/api/nodes"
HEARTBEAT_PATH_TEMPLATE: Final = "/api/nodes/{node_id}/heartbeat"
NODE_STATUS_PATH_TEMPLATE: Final = "/api/nodes/{node_id}/status"
COMMANDS_PATH_TEMPLATE: Final = "/api/nodes/{node_id}/commands"
COMMAND_ACK_PATH_TEMPLATE: Final = "/api/nodes/{node_id}/commands/{command_id}/ack"
#: ``POST`` an operator command of any type to one node.
COMMANDS_PATH: Final = "/api/commands"
BLACKOUT_ACTIVATE_PATH: Final = "/api/blackout/activate"
BLACKOUT_DEACTIVATE_PATH: Final = "/api/blackout/deactivate"
#: ``GET`` the active blackouts and the blackout log.
BLACKOUT_PATH: Final = "/api/blackout"
#: ``GET``: status, database reachability and ``stream_head``.
HEALTH_PATH: Final = "/health"
HEALTH_LIVE_PATH: Final = "/health/live"
HEALTH_READY_PATH: Final = "/health/ready"
METRICS_PATH: Final = "/metrics"
STREAM_PATH: Final = "/ws"

#: Every (method, path template) a client of this project uses; the agreement test checks
#: each against the server's route table. ``WS`` marks the WebSocket route.
CLIENT_ROUTES: Final[tuple[tuple[str, str], ...]] = (
    ("POST", REGISTER_PATH),
    ("POST", HEARTBEAT_PATH_TEMPLATE),
    ("GET", NODES_PATH),
    ("GET", NODE_STATUS_PATH_TEMPLATE),
    ("POST", DETECTIONS_PATH),
    ("GET", DETECTIONS_PATH),
    ("POST", DETECTIONS_BATCH_PATH),
    ("GET", COMMANDS_PATH_TEMPLATE),
    ("POST", COMMAND_ACK_PATH_TEMPLATE),
    ("POST", COMMANDS_PATH),
    ("POST", BLACKOUT_ACTIVATE_PATH),
    ("POST", BLACKOUT_DEACTIVATE_PATH),
    ("GET", BLACKOUT_PATH),
    ("GET", HEALTH_PATH),
    ("GET", HEALTH_LIVE_PATH),
    ("GET", HEALTH_READY_PATH),
    ("GET", METRICS_PATH),
    ("WS", STREAM_PATH),
)


def _segment(value: object) -> str:
    """One path segment, percent-encoded so that an odd id cannot reach another route."""
    return quote(str(value), safe="")


def heartbeat_path(node_id: str) -> str:
    """``POST`` here (node token) to report liveness and outbox depth."""
    return HEARTBEAT_PATH_TEMPLATE.format(node_id=_segment(node_id))


def node_status_path(node_id: str) -> str:
    """``GET`` one node's status (viewer/operator)."""
    return NODE_STATUS_PATH_TEMPLATE.format(node_id=_segment(node_id))


def commands_path(node_id: str) -> str:
    """``GET`` here (node token) claims the node's due commands."""
    return COMMANDS_PATH_TEMPLATE.format(node_id=_segment(node_id))


def command_ack_path(node_id: str, command_id: int | str) -> str:
    """``POST`` here (node token) to ack (or fail) one delivered command."""
    return COMMAND_ACK_PATH_TEMPLATE.format(node_id=_segment(node_id),
                                            command_id=_segment(command_id))


# ------------------------------------------------------------------ the stream
def stream_url(base: str, since: int | None, token: str | None) -> str:
    """The WebSocket URL of the stream on the backend at ``base`` (``http(s)://host:port``,
    or already ``ws(s)://``): resume after ``since`` when given, else start live."""
    url = base.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url[len("https://"):]
    elif url.startswith("http://"):
        url = "ws://" + url[len("http://"):]
    query: dict[str, str] = {}
    if since is not None:
        query["since"] = str(int(since))
    if token is not None:
        query["token"] = token
    url += STREAM_PATH
    return f"{url}?{urlencode(query, quote_via=quote)}" if query else url


#: Bad or missing token.
CLOSE_BAD_TOKEN: Final = 4401
#: The token is valid but its role may not read the stream.
CLOSE_WRONG_ROLE: Final = 4403
#: ``since`` is not an integer >= 0.
CLOSE_BAD_SINCE: Final = 4400
#: The client fell behind past the server's send buffer; events since then were dropped
#: for it, so it must resume with ``since=<last seq>``.
CLOSE_TOO_SLOW: Final = 4008

#: Close codes after which reconnecting cannot help: the credentials or the request are wrong.
FATAL_CLOSE_CODES: Final = frozenset({CLOSE_BAD_TOKEN, CLOSE_WRONG_ROLE, CLOSE_BAD_SINCE})


class CloseAction(enum.StrEnum):
    """What a stream client does after the server closed (or the link was lost)."""

    #: Credentials or request wrong: retrying cannot help; stop and report.
    FATAL = "fatal"
    #: Too slow (4008): reconnect at once with ``since=<last seq>``.
    RESUME_NOW = "resume_now"
    #: Anything else (network, 1011, 1013, no close frame): reconnect with backoff.
    RESUME_BACKOFF = "resume_backoff"


def close_action(code: int | None) -> CloseAction:
    """The one meaning of a close code for every client (``None``: no close frame)."""
    if code in FATAL_CLOSE_CODES:
        return CloseAction.FATAL
    if code == CLOSE_TOO_SLOW:
        return CloseAction.RESUME_NOW
    return CloseAction.RESUME_BACKOFF


#: First frame after connect: ``since``, ``head``, ``heartbeat_s``.
FRAME_HELLO: Final = "hello"
#: Periodic: ``head``, ``server_time``.
FRAME_HEARTBEAT: Final = "heartbeat"
#: ``events``: consecutive events in stream-seq order.
FRAME_EVENTS: Final = "events"
FRAME_TYPES: Final = frozenset({FRAME_HELLO, FRAME_HEARTBEAT, FRAME_EVENTS})

#: ``data`` is the stored detection (with its ``id``).
EVENT_DETECTION: Final = "detection"
#: ``data`` is ``{"node_id", "status", "last_heartbeat", "blackout"}``.
EVENT_NODE_STATUS: Final = "node_status"
#: ``data`` is the blackout log row.
EVENT_BLACKOUT: Final = "blackout"
EVENT_TYPES: Final = frozenset({EVENT_DETECTION, EVENT_NODE_STATUS, EVENT_BLACKOUT})


def parse_frame(raw: bytes | str) -> dict[str, Any]:
    """One stream frame as a dict; ``ValueError`` when it is not a JSON object with a
    ``type`` (``orjson.JSONDecodeError`` is a ``ValueError``). Unknown types are returned
    as they are, for the caller to ignore: a newer server may add frames."""
    msg = orjson.loads(raw)
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ValueError(f"not a stream frame: {str(raw)[:80]!r}")
    return msg


# ------------------------------------------------------------------ the stored set
#: The largest ``limit`` the stored-set read accepts.
STORED_PAGE_MAX: Final = 1000
#: Keys the backend adds to a stored detection (not part of what the node sent).
STORED_ONLY_KEYS: Final = frozenset({"id", "stream_seq", "committed_at"})


def stored_page_params(node_id: str | None, cursor: str | None,
                       limit: int = STORED_PAGE_MAX) -> dict[str, str]:
    """Query parameters of one page of ``GET /api/detections`` for one node (``None``:
    every node); ``cursor`` is the previous page's ``next_cursor`` (``None`` for the
    first page)."""
    if not 1 <= limit <= STORED_PAGE_MAX:
        raise ValueError(f"limit must be in [1, {STORED_PAGE_MAX}], not {limit}")
    params = {"limit": str(limit)}
    if node_id is not None:
        params["node_id"] = node_id
    if cursor:
        params["cursor"] = cursor
    return params


def parse_stored_page(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """(items, next cursor) of a decoded ``GET /api/detections`` answer; the cursor is
    ``None`` on the last page. ``ValueError`` when the body is not of that shape."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ValueError("stored-set page without an 'items' list")
    cursor = body.get("next_cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise ValueError(f"stored-set page with a non-string next_cursor: {cursor!r}")
    items: list[dict[str, Any]] = body["items"]
    return items, cursor or None


def stored_content_hash(item_or_payload: dict[str, Any]) -> int:
    """:func:`content_hash` of a stored detection (a ``GET /api/detections`` item, a
    ``detections.payload`` row or a detection event's ``data``): the keys the backend adds
    are left out, so it equals the hash the ledger recorded when the node generated it."""
    return content_hash({k: v for k, v in item_or_payload.items() if k not in STORED_ONLY_KEYS})
