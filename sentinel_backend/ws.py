"""``WS /ws?since=N``: replay from the database, then live, without gap or repeat.

The client is subscribed to the hub *before* the replay starts, at the hub's head H; the
replay then reads ``(since, H]`` from the database and the live frames (all > H) follow,
filtered by the last seq sent, so the switch can neither skip nor repeat an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from .core import ApiError, core_of
from .db import is_unavailable
from .stream import Client, Frame, fetch_events
from .stream_events import EVENT_BLACKOUT, EVENT_DETECTION, EVENT_NODE_STATUS, EVENT_TYPES

__all__ = [
    "CLOSE_BAD_SINCE",
    "CLOSE_BAD_TOKEN",
    "CLOSE_TOO_SLOW",
    "CLOSE_WRONG_ROLE",
    "EVENT_BLACKOUT",
    "EVENT_DETECTION",
    "EVENT_NODE_STATUS",
    "EVENT_TYPES",
    "router",
]

router = APIRouter()

# Close codes of docs/api.md (the event type names come from :mod:`.stream_events`).
CLOSE_BAD_TOKEN = 4401
CLOSE_WRONG_ROLE = 4403
CLOSE_BAD_SINCE = 4400
CLOSE_TOO_SLOW = 4008
REPLAY_PAGE = 1000


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code, reason[:120])


@router.websocket("/ws")
async def stream(ws: WebSocket) -> None:
    core = core_of(ws)
    await ws.accept()
    token = ws.query_params.get("token")
    try:
        await core.principal(ws, "viewer", "operator", token=token)
    except ApiError as exc:
        await _close(ws, CLOSE_WRONG_ROLE if exc.status == 403 else CLOSE_BAD_TOKEN, exc.detail)
        return
    except Exception:
        await _close(ws, 1013, "database unavailable, retry later")
        return
    raw_since = ws.query_params.get("since")
    since: int | None = None
    if raw_since is not None:
        try:
            since = int(raw_since)
            if not 0 <= since < 2**63:
                raise ValueError(raw_since)
        except ValueError:
            await _close(ws, CLOSE_BAD_SINCE, "since must be an integer >= 0")
            return
    hub = core.hub
    faults = core.settings.faults  # SENTINEL_FAULT_CLOCK_SHIFT_S shifts server_time
    client, live_from = hub.subscribe(core.settings.ws_max_buffer)
    core.metrics.ws_clients.inc()
    receiver = asyncio.create_task(_drain_incoming(ws, client))
    try:
        last = live_from if since is None else since
        # server_time: the hello answers the client's upgrade request, so a client can
        # take (request sent, server_time, hello received) as a clock-offset sample
        await ws.send_text(orjson.dumps({
            "type": "hello", "since": last, "head": hub.head,
            "heartbeat_s": core.settings.ws_heartbeat_s,
            "server_time": faults.server_now().isoformat()}).decode())
        while last < live_from:  # replay from the database
            events = await fetch_events(core.pool, last, live_from, REPLAY_PAGE,
                                        faults.clock_shift_s)
            if not events:
                break
            for frame in Frame.build_many(events):
                await ws.send_text(frame.text)
            last = events[-1][0]
            if client.overflow:
                break
        await _live(ws, client, last, hub_head=lambda: hub.head, now=faults.server_now)
        if client.overflow:
            core.metrics.ws_closed_slow.inc()
            await _close(ws, CLOSE_TOO_SLOW, "too slow: resume with since=<last seq>")
    except (WebSocketDisconnect, ConnectionError, RuntimeError):
        pass
    except Exception as exc:
        if is_unavailable(exc):
            await _close(ws, 1013, "database unavailable: resume with since=<last seq> later")
        else:
            await _close(ws, 1011, "server error, resume with since=<last seq>")
    finally:
        hub.unsubscribe(client)
        core.metrics.ws_clients.dec()
        receiver.cancel()
        with contextlib.suppress(BaseException):
            await receiver


async def _drain_incoming(ws: WebSocket, client: Client) -> None:
    """Read (and ignore) what the client sends, so that its close is noticed."""
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
    except Exception:
        return
    finally:
        client.gone = True
        client.wake.set()


async def _live(ws: WebSocket, client: Client, last: int, *,
                hub_head: Callable[[], int],
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Send buffered frames as they come (coalesced by the hub), and the heartbeats."""
    while not client.gone:
        if client.overflow:
            return
        client.wake.clear()
        frames = client.take(last)
        if frames:
            for frame in frames:
                await ws.send_text(frame.text)
                last = frame.last
            continue
        if client.beat_due:
            client.beat_due = False
            await ws.send_text(orjson.dumps({
                "type": "heartbeat", "head": hub_head(),
                "server_time": now().isoformat()}).decode())
            continue
        await client.wake.wait()
