"""A dashboard's WebSocket subscription: resume with ``?since=``, dedupe by seq, time delivery.

Runs in its own greenlet, independent of the Locust user that opened it: when Locust stops
the users, the subscription keeps reading so the gate can drain it to the last stored
event (a dashboard that is switched off at the stop cannot prove it got everything).
websocket-client uses plain ``socket``, which Locust's gevent monkey-patching makes
cooperative, so a blocking ``recv`` only blocks this greenlet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import gevent
import websocket

__all__ = ["FATAL_CLOSE_CODES", "DashboardSession"]

log = logging.getLogger("loadtests.dashboard")

# Close codes after which resuming cannot help (docs/api.md): bad token, wrong role, bad since.
FATAL_CLOSE_CODES = frozenset({4401, 4403, 4400})

# fire(latency_ms, frame_bytes, error): how a delivery reaches Locust's statistics.
DeliveryHook = Callable[[float, int, Exception | None], None]


def _committed_at(event: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(event["committed_at"])).timestamp()
    except (KeyError, ValueError):
        return None


class DashboardSession:
    """One subscriber; ``last_seq`` is the highest stream seq it has seen, gap-free."""

    def __init__(self, name: str, stream_url: str, token: str, since: int | None,
                 on_delivery: DeliveryHook, connect_timeout: float = 2.0) -> None:
        self.name = name
        self.stream_url = stream_url.rstrip("/")
        self.token = token
        self.last_seq: int | None = since
        self.on_delivery = on_delivery
        self.connect_timeout = connect_timeout
        self.received: set[int] = set()  # stream seqs of detection events
        self.latencies_ms: list[float] = []
        self.committed_at: list[float] = []  # parallel to latencies_ms (epoch seconds)
        self.duplicates = 0
        self.gaps = 0
        self.connects = 0
        self.fatal: str | None = None
        self._closing = False
        self._greenlet: gevent.Greenlet | None = None
        self._ws: websocket.WebSocket | None = None

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._run)

    def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            with contextlib.suppress(websocket.WebSocketException, OSError):
                self._ws.close(timeout=1)
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=2)

    def wait_for(self, target: int, deadline: float) -> bool:
        """Block (cooperatively) until ``last_seq >= target`` or the monotonic ``deadline``."""
        while (self.last_seq or 0) < target and time.monotonic() < deadline:
            if self.fatal:
                return False
            gevent.sleep(0.05)
        return (self.last_seq or 0) >= target

    def _url(self) -> str:
        query = f"token={quote(self.token)}"
        if self.last_seq is not None:
            query = f"since={self.last_seq}&{query}"
        return f"{self.stream_url}/ws?{query}"

    def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            started = time.perf_counter()
            connected = False
            try:
                self._ws = websocket.create_connection(self._url(), timeout=self.connect_timeout)
                connected = True
                self.connects += 1
                backoff = 0.1
                self._read(self._ws)
            except (websocket.WebSocketException, OSError, ValueError) as exc:
                if self._closing:
                    return
                # "WS reconnect" in Locust's stats: the time a failed connect took, or 0 for
                # an established connection that was lost
                spent = 0.0 if connected else (time.perf_counter() - started) * 1000.0
                self.on_delivery(spent, 0, exc)
            finally:
                if self._ws is not None:
                    with contextlib.suppress(websocket.WebSocketException, OSError):
                        self._ws.close(timeout=0.2)
                    self._ws = None
            if self.fatal or self._closing:
                return
            gevent.sleep(backoff)  # then resume from last_seq: nothing lost, nothing repeated
            backoff = min(backoff * 2, 1.0)  # a short cap: a healed link is used within ~1 s

    def _read(self, ws: websocket.WebSocket) -> None:
        while not self._closing:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                if code in FATAL_CLOSE_CODES:
                    self.fatal = f"closed with {code}: {data[2:].decode(errors='replace')}"
                    log.error("dashboard %s: %s (check SENTINEL_VIEWER_TOKEN)", self.name,
                              self.fatal)
                raise websocket.WebSocketConnectionClosedException(f"server closed ({code})")
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            frame = json.loads(data)
            kind = frame.get("type")
            if kind == "hello":
                if self.last_seq is None:
                    self.last_seq = int(frame.get("head", 0))
                # a 5 s heartbeat: a silent link for 3 of them is a dead link
                ws.settimeout(max(3.0 * float(frame.get("heartbeat_s", 5)), 2.0))
            elif kind == "events":
                events = frame.get("events", [])
                size = len(data) // max(len(events), 1)
                for event in events:
                    self._accept(event, size)

    def _accept(self, event: dict[str, Any], size: int) -> None:
        seq = int(event["seq"])
        last = self.last_seq or 0
        if seq <= last:
            self.duplicates += 1
            return
        if seq != last + 1:
            self.gaps += seq - last - 1
        self.last_seq = seq
        committed = _committed_at(event)
        latency_ms = (time.time() - committed) * 1000.0 if committed is not None else 0.0
        if event.get("type") == "detection":
            self.received.add(seq)
        self.latencies_ms.append(latency_ms)
        self.committed_at.append(committed if committed is not None else time.time())
        self.on_delivery(latency_ms, size, None)

    def receipt(self) -> dict[str, Any]:
        """JSON-able (msgpack-able) account for the gate."""
        return {
            "name": self.name, "received": sorted(self.received), "duplicates": self.duplicates,
            "gaps": self.gaps, "reconnects": max(self.connects - 1, 0), "fatal": self.fatal,
            "last_seq": self.last_seq,
        }
