"""The client-side wire contract (``simulator.protocol``) agrees with the server's own.

Routes against the route table of ``sentinel_backend.app`` (built, not served); close codes
against ``sentinel_backend.ws``'s constants and against what a real backend sends; event
types against ``sentinel_backend.stream_events``, the database schema's CHECK constraint and
what a real backend emits;
and a real round trip: what a node sent, read back through the stored-set paging helpers,
hashes as it did when it was sent. Renaming a route, a code or an event type on either side
fails one of these.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from websockets.exceptions import ConnectionClosed

import sentinel_backend.stream_events as server_events
import sentinel_backend.ws as server_ws
from sentinel_backend.app import create_app
from sentinel_backend.config import Settings
from sentinel_backend.launcher import BackendProcess
from simulator import protocol
from simulator._stats import MsHistogram
from simulator._store import TickBatch
from simulator.dashboard import DashboardClient
from simulator.payloads import make_detection, payload_bytes

# Served by FastAPI itself (API docs), not part of the wire contract.
_DOCS_PATHS = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
_SAMPLE = {"node_id": "edge-007", "command_id": "42"}
_CAPTURED = 1_790_000_000.0


# ------------------------------------------------------------ the route table
@pytest.fixture(scope="module")
def server_app() -> Iterator[FastAPI]:
    """The real app object (its lifespan, which connects to the database, never runs).
    ``create_app`` configures the root logger: undone after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = create_app(Settings(database_url="postgresql://unused/unused",
                                  enrollment_key="e", operator_token="o", viewer_token="v",
                                  access_log=False, log_level="WARNING"))
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    yield app


@pytest.fixture(scope="module")
def server_routes(server_app: FastAPI) -> list[BaseRoute]:
    """The top of the app's route table: what the server dispatches a request through."""
    return list(server_app.router.routes)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path)


def _websocket_paths(routes: list[BaseRoute]) -> set[str]:
    """WebSocket routes, also inside included routers (which recent FastAPI versions keep
    as one entry holding the ``original_router``)."""
    found: set[str] = set()
    for route in routes:
        if isinstance(route, WebSocketRoute):
            found.add(route.path)
        inner = getattr(getattr(route, "original_router", route), "routes", None)
        if isinstance(inner, list) and inner is not routes:
            found |= _websocket_paths(inner)
    return found


def _route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template with anonymous parameters) of every server route: the
    OpenAPI table for HTTP, plus the plain Starlette routes and the WebSocket routes it
    leaves out."""
    keys = {(method.upper(), _template(path))
            for path, methods in app.openapi()["paths"].items() for method in methods}
    for route in app.router.routes:
        if isinstance(route, Route) and route.path not in _DOCS_PATHS:
            keys |= {(m, _template(route.path)) for m in route.methods or () if m != "HEAD"}
    keys |= {("WS", _template(p)) for p in _websocket_paths(list(app.router.routes))}
    return keys


def _served(routes: list[BaseRoute], method: str, path: str) -> bool:
    """Whether the server routes a request for this concrete path and method."""
    scope: dict[str, Any] = ({"type": "websocket", "path": path} if method == "WS" else
                             {"type": "http", "path": path, "method": method})
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def test_every_client_route_is_a_server_route(server_app: FastAPI) -> None:
    served = _route_keys(server_app)
    missing = [(m, p) for m, p in protocol.CLIENT_ROUTES if (m, _template(p)) not in served]
    assert not missing, f"client routes the server does not have: {missing}"


def test_every_server_route_is_named_by_the_client(server_app: FastAPI) -> None:
    named = {(m, _template(p)) for m, p in protocol.CLIENT_ROUTES}
    unnamed = sorted(_route_keys(server_app) - named)
    assert not unnamed, f"server routes missing from simulator.protocol: {unnamed}"


def test_concrete_paths_reach_their_routes(server_routes: list[BaseRoute]) -> None:
    """What the helpers build (not just the templates) is routed by the server."""
    built = {
        ("POST", protocol.heartbeat_path(_SAMPLE["node_id"])),
        ("GET", protocol.node_status_path(_SAMPLE["node_id"])),
        ("GET", protocol.commands_path(_SAMPLE["node_id"])),
        ("POST", protocol.command_ack_path(_SAMPLE["node_id"], 42)),
    }
    built |= {(m, p.format(**_SAMPLE)) for m, p in protocol.CLIENT_ROUTES}
    unrouted = sorted((m, p) for m, p in built if not _served(server_routes, m, p))
    assert not unrouted, f"paths the server would not route: {unrouted}"
    # The check can fail: a path or a method the server does not have is not routed.
    assert not _served(server_routes, "POST", "/api/nodes/register-typo")
    assert not _served(server_routes, "DELETE", protocol.DETECTIONS_PATH)


def test_path_helpers_fill_their_templates() -> None:
    assert protocol.heartbeat_path("n-1") == "/api/nodes/n-1/heartbeat"
    assert protocol.commands_path("n-1") == "/api/nodes/n-1/commands"
    assert protocol.command_ack_path("n-1", 9) == "/api/nodes/n-1/commands/9/ack"
    # An id with a slash stays one segment: it cannot reach another route.
    assert protocol.heartbeat_path("a/b") == "/api/nodes/a%2Fb/heartbeat"


def test_stream_url() -> None:
    assert protocol.stream_url("http://127.0.0.1:8000/", 7, "t k") == (
        "ws://127.0.0.1:8000/ws?since=7&token=t%20k")
    assert protocol.stream_url("https://example.test", None, None) == "wss://example.test/ws"
    assert protocol.stream_url("ws://h:1", 0, None) == "ws://h:1/ws?since=0"


# ------------------------------------------------------------ close codes, event types
def _close_constants(namespace: object) -> dict[str, int]:
    return {name: value for name, value in vars(namespace).items()
            if name.startswith("CLOSE_") and isinstance(value, int)}


def test_close_codes_are_the_servers() -> None:
    assert _close_constants(protocol) == _close_constants(server_ws)


def test_close_actions() -> None:
    assert {c: protocol.close_action(c) for c in (4401, 4403, 4400, 4008, 1011, 1013, None)} == {
        4401: protocol.CloseAction.FATAL, 4403: protocol.CloseAction.FATAL,
        4400: protocol.CloseAction.FATAL, 4008: protocol.CloseAction.RESUME_NOW,
        1011: protocol.CloseAction.RESUME_BACKOFF, 1013: protocol.CloseAction.RESUME_BACKOFF,
        None: protocol.CloseAction.RESUME_BACKOFF,
    }


def _schema_event_types() -> set[str]:
    """The event types the database lets the server write (``stream_events.type``)."""
    found: set[str] = set()
    for sql in sorted(resources.files("sentinel_backend").joinpath("migrations").iterdir(),
                      key=lambda f: f.name):
        if not sql.name.endswith(".sql"):
            continue
        text = sql.read_text()
        table = re.search(r"CREATE TABLE stream_events \((.*?)\n\);", text, re.S)
        if table:
            check = re.search(r"CHECK \(type IN \(([^)]*)\)\)", table.group(1))
            assert check, "stream_events.type lost its CHECK constraint"
            found = set(re.findall(r"'([a-z_]+)'", check.group(1)))
        altered = re.search(r"ALTER TABLE stream_events[^;]*\btype\b", text)
        assert not altered, f"{sql.name} alters stream_events.type: read it here too"
    return found


def test_event_types_are_the_servers_constants() -> None:
    def named(namespace: object) -> dict[str, object]:
        return {k: v for k, v in vars(namespace).items() if k.startswith("EVENT_")}

    assert named(protocol) == named(server_events)


def test_event_types_are_the_schemas() -> None:
    assert _schema_event_types() == protocol.EVENT_TYPES


def test_parse_frame() -> None:
    assert protocol.parse_frame(b'{"type":"heartbeat","head":3}') == {
        "type": "heartbeat", "head": 3}
    for bad in (b"[1]", b'{"head":3}', b"nope"):
        with pytest.raises(ValueError):
            protocol.parse_frame(bad)


def test_stored_page_helpers() -> None:
    assert protocol.stored_page_params("n", None, 10) == {"node_id": "n", "limit": "10"}
    assert protocol.stored_page_params("n", "c1", 10)["cursor"] == "c1"
    with pytest.raises(ValueError):
        protocol.stored_page_params("n", None, protocol.STORED_PAGE_MAX + 1)
    assert protocol.parse_stored_page({"items": [], "next_cursor": None}) == ([], None)
    with pytest.raises(ValueError):
        protocol.parse_stored_page({"results": []})


# ------------------------------------------------------------ against a real backend
def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _register(client: httpx.AsyncClient, backend: BackendProcess, node_id: str) -> str:
    resp = await client.post(protocol.REGISTER_PATH, json={"node_id": node_id},
                             headers=_bearer(backend.enrollment_key))
    assert resp.status_code == 201, resp.text
    token: str = resp.json()["token"]
    return token


async def _read_stored(client: httpx.AsyncClient, token: str, node_id: str,
                       limit: int) -> tuple[list[dict[str, Any]], int]:
    """The node's stored set through the paging helpers; also how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for page in range(1, 100):
        resp = await client.get(protocol.DETECTIONS_PATH, headers=_bearer(token),
                                params=protocol.stored_page_params(node_id, cursor, limit))
        assert resp.status_code == 200, resp.text
        got, cursor = protocol.parse_stored_page(resp.json())
        items += got
        if cursor is None:
            return items, page
    raise AssertionError("the stored set did not end")


async def _collect_stream(backend: BackendProcess, want_detections: int
                          ) -> tuple[set[str], list[dict[str, Any]]]:
    """Frame types seen and events, replayed from seq 0, until every event type, the
    detections and a heartbeat have arrived (at most 500 frames, 10 s per frame)."""
    frames: set[str] = set()
    events: list[dict[str, Any]] = []
    url = protocol.stream_url(backend.url, 0, backend.viewer_token)
    async with websockets.connect(url, max_size=None) as ws:
        for _ in range(500):
            frame = protocol.parse_frame(await asyncio.wait_for(ws.recv(), 10))
            frames.add(frame["type"])
            if frame["type"] == protocol.FRAME_EVENTS:
                events += frame["events"]
            kinds = {e["type"] for e in events}
            detections = sum(1 for e in events if e["type"] == protocol.EVENT_DETECTION)
            if (protocol.FRAME_HEARTBEAT in frames and kinds >= protocol.EVENT_TYPES
                    and detections >= want_detections):
                break
    return frames, events


async def test_round_trip_and_emitted_types(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_WS_HEARTBEAT_S": "0.2"})
    node_id = "agree-1"
    sent = [make_detection(node_id, seq, _CAPTURED + seq, seed=3) for seq in (1, 2)]
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        token = await _register(client, backend, node_id)
        node = _bearer(token) | {"Content-Type": "application/json"}
        resp = await client.post(protocol.DETECTIONS_PATH, content=payload_bytes(sent[0]),
                                 headers=node)
        assert resp.status_code == 201, resp.text
        resp = await client.post(protocol.DETECTIONS_BATCH_PATH, json={"items": [sent[1]]},
                                 headers=node)
        assert resp.status_code == 200 and resp.json()["created"] == 1, resp.text
        resp = await client.post(protocol.heartbeat_path(node_id), json={"outbox_depth": 0},
                                 headers=node)
        assert resp.status_code == 200, resp.text
        resp = await client.post(protocol.BLACKOUT_ACTIVATE_PATH, headers=_bearer(
            backend.operator_token), json={"node_ids": [node_id], "reason": "agreement"})
        assert resp.status_code == 200, resp.text
        resp = await client.get(protocol.commands_path(node_id), headers=node)
        assert resp.status_code == 200, resp.text
        commands = resp.json()["commands"]
        assert [c["type"] for c in commands] == ["blackout_on"], commands
        resp = await client.post(protocol.command_ack_path(node_id, commands[0]["id"]),
                                 json={"ok": True}, headers=node)
        assert resp.status_code == 200, resp.text

        stored, pages = await _read_stored(client, backend.viewer_token, node_id, limit=1)
    assert pages == 2, "a page of 1 over 2 rows must give a cursor, then the end"
    by_seq = {int(item["seq"]): item for item in stored}
    assert sorted(by_seq) == [1, 2]
    for payload in sent:
        item = by_seq[payload["seq"]]
        assert set(item) >= protocol.STORED_ONLY_KEYS, item.keys()
        assert protocol.stored_content_hash(item) == protocol.content_hash(payload)

    frames, events = await _collect_stream(backend, want_detections=len(sent))
    assert frames == protocol.FRAME_TYPES
    assert {e["type"] for e in events} == protocol.EVENT_TYPES
    for event in events:
        if event["type"] == protocol.EVENT_DETECTION:
            payload = sent[event["data"]["seq"] - 1]
            assert protocol.stored_content_hash(event["data"]) == protocol.content_hash(payload)


async def _close_code(url: str, after_hello: Callable[[], Any] | None = None) -> int | None:
    async with websockets.connect(url) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(100):  # hello, then maybe heartbeats, until the close
                frame = protocol.parse_frame(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == protocol.FRAME_HELLO and after_hello is not None:
                    await after_hello()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def test_close_codes_mean_what_the_client_says(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_WS_MAX_BUFFER": "3"})
    base = backend.url
    assert await _close_code(protocol.stream_url(base, None, "nope")) == protocol.CLOSE_BAD_TOKEN
    assert await _close_code(protocol.stream_url(base, None, None)) == protocol.CLOSE_BAD_TOKEN
    assert await _close_code(protocol.stream_url(base, None, backend.enrollment_key)
                             ) == protocol.CLOSE_WRONG_ROLE
    bad_since = protocol.stream_url(base, None, backend.viewer_token) + "&since=-1"
    assert await _close_code(bad_since) == protocol.CLOSE_BAD_SINCE

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        token = await _register(client, backend, "agree-slow")

        async def burst() -> None:  # 5 events in one frame > a buffer of 3
            items = [make_detection("agree-slow", s, _CAPTURED + s) for s in range(1, 6)]
            resp = await client.post(protocol.DETECTIONS_BATCH_PATH, json={"items": items},
                                     headers=_bearer(token))
            assert resp.status_code == 200, resp.text

        code = await _close_code(protocol.stream_url(base, None, backend.viewer_token), burst)
    assert code == protocol.CLOSE_TOO_SLOW
    assert protocol.close_action(code) is protocol.CloseAction.RESUME_NOW


class _Sink:
    """A dashboard's sink with a real tick batch (a fatal close never writes into it)."""

    def __init__(self) -> None:
        self.batch = TickBatch()
        self.stream_cache: dict[int, tuple[int | None, int | None]] = {}
        self.first_events: dict[int, dict[str, Any]] = {}

    def stream_info(self, seq: int, event: dict[str, Any]) -> tuple[int | None, int | None]:
        return self.stream_cache.setdefault(seq, (None, None))


async def test_dashboard_stops_for_good_after_a_fatal_close(backend: BackendProcess) -> None:
    """The drift this module fixed: after 4401 the simulator's dashboard used to retry."""
    dash = DashboardClient(0, "dash-bad", backend.url, "not-a-token", _Sink(), since=0,
                           delivery=MsHistogram(), e2e=MsHistogram(), backoff_base_s=0.01,
                           backoff_cap_s=0.02)
    stop = asyncio.Event()
    try:
        await asyncio.wait_for(dash.run(stop), 15)  # returns by itself: no reconnect loop
    finally:
        stop.set()
    assert dash.fatal is not None and dash.fatal.startswith("closed 4401"), dash.fatal
    assert dash.reconnects == 0


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(400):  # at most ~20 s
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_dashboard_resumes_at_once_after_too_slow(
        backend_factory: Callable[..., BackendProcess]) -> None:
    """4008: the dashboard reconnects with ``since=<last seq>`` and misses nothing."""
    backend = backend_factory(env={"SENTINEL_WS_MAX_BUFFER": "3"})
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        token = await _register(client, backend, "agree-dash")  # stream seq 1
        dash = DashboardClient(0, "dash-slow", backend.url, backend.viewer_token, _Sink(),
                               since=0, delivery=MsHistogram(), e2e=MsHistogram(),
                               # a backoff wait (uniform in [0, 600] s) would outlast
                               # the wait below: only the immediate resume catches up
                               backoff_base_s=600.0, backoff_cap_s=600.0)
        stop = asyncio.Event()
        task = asyncio.create_task(dash.run(stop))
        try:
            await _until(lambda: dash.last_seq >= 1, "the replay of the registration")
            items = [make_detection("agree-dash", s, _CAPTURED + s) for s in range(1, 6)]
            resp = await client.post(protocol.DETECTIONS_BATCH_PATH, json={"items": items},
                                     headers=_bearer(token))
            assert resp.status_code == 200, resp.text
            await _until(lambda: dash.last_seq >= 6, "the resumed dashboard to catch up")
            closed_by = dash.last_close  # before our own close below replaces it
        finally:
            stop.set()
            await dash.close()
            await asyncio.wait_for(task, 10)
    assert closed_by == f"closed {protocol.CLOSE_TOO_SLOW}"
    assert dash.reconnects >= 1 and dash.fatal is None
    assert (dash.gaps, dash.duplicates, dash.out_of_order) == (0, 0, 0)
