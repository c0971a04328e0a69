"""A dashboard's WebSocket subscription: resume with ``?since=``, dedupe by seq, record events.

Runs in its own greenlet, independent of the Locust user that opened it: when Locust stops
the users, the subscription keeps reading so the gate can drain it to the last stored
event (a dashboard that is switched off at the stop cannot prove it got everything).
Every detection event it accepts is recorded (stream seq, identity, receive, commit and
capture times, content hash) for the verdict, which computes delivery latency, missing
events and the p99 inside and outside fault windows from them; so is every stream seq of
any type, and how the subscription went: its sessions, the resumes (a session opened with
``?since=`` after a break) and how many events they replayed (up to the resumed
session's ``hello.head``: what the server read back from the database), and its 4008
closes (too slow).
websocket-client uses plain ``socket``, which Locust's gevent monkey-patching makes
cooperative, so a blocking ``recv`` only blocks this greenlet. Over ``wss://`` it verifies
the server with the run's shared TLS context (``ssl_context``; gevent's, so TLS reads are
cooperative too).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import struct
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import gevent
import websocket

from simulator.protocol import (
    CLOSE_TOO_SLOW,
    EVENT_DETECTION,
    FRAME_EVENTS,
    FRAME_HELLO,
    CloseAction,
    close_action,
    parse_frame,
    stored_content_hash,
    stream_url,
)

__all__ = ["DashboardSession", "EventRow"]

log = logging.getLogger("loadtests.dashboard")

# fire(latency_ms, frame_bytes, error): how a delivery reaches Locust's statistics.
DeliveryHook = Callable[[float, int, Exception | None], None]

# One accepted detection event, compact for the master<-worker message:
# (stream_seq, node_id, seq, received_at, committed_at, captured_at, content_hash).
EventRow = tuple[int, str, int, float, float, float | None, int | None]


def _epoch(value: object) -> float | None:
    """An RFC 3339 time as epoch seconds; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


class DashboardSession:
    """One subscriber; ``last_seq`` is the highest stream seq it has seen, gap-free."""

    def __init__(self, name: str, base_url: str, token: str, since: int | None,
                 on_delivery: DeliveryHook, connect_timeout: float = 2.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.baseline_seq = since
        self.last_seq: int | None = since
        self.on_delivery = on_delivery
        self.connect_timeout = connect_timeout
        self.sslopt: dict[str, Any] = {} if ssl_context is None else {"context": ssl_context}
        self.events: list[EventRow] = []  # accepted detection events, in receive order
        self.stream_seqs: list[int] = []  # every accepted stream seq, of any event type
        self.duplicates = 0
        self.gaps = 0
        self.connects = 0
        self.resumes = 0
        self.replayed = 0
        self.slow_closes = 0
        self._replay_upto = 0  # a resumed session's hello.head: events up to it are replayed
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

    def wait_for(self, target: int, deadline: float) -> float | None:
        """Block (cooperatively) until ``last_seq >= target`` or the monotonic ``deadline``;
        the wall-clock time it got there, or None when it did not."""
        while (self.last_seq or 0) < target and time.monotonic() < deadline:
            if self.fatal:
                return None
            gevent.sleep(0.05)
        return time.time() if (self.last_seq or 0) >= target else None

    def _run(self) -> None:
        backoff = 0.1
        while not self._closing:
            started = time.perf_counter()
            connected = False
            try:
                since = self.last_seq
                url = stream_url(self.base_url, since, self.token)
                self._ws = websocket.create_connection(url, timeout=self.connect_timeout,
                                                       sslopt=self.sslopt)
                connected = True
                self.connects += 1
                resumed = self.connects > 1 and since is not None
                self.resumes += int(resumed)
                backoff = 0.1
                self._read(self._ws, resumed)
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

    def _read(self, ws: websocket.WebSocket, resumed: bool) -> None:
        """Read one session; ``resumed``: it was opened with ``?since=`` after a break."""
        self._replay_upto = 0
        while not self._closing:
            opcode, data = ws.recv_data(control_frame=False)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                self.slow_closes += int(code == CLOSE_TOO_SLOW)
                if close_action(code) is CloseAction.FATAL:
                    self.fatal = f"closed with {code}: {data[2:].decode(errors='replace')}"
                    log.error("dashboard %s: %s (check SENTINEL_VIEWER_TOKEN)", self.name,
                              self.fatal)
                raise websocket.WebSocketConnectionClosedException(f"server closed ({code})")
            if opcode != websocket.ABNF.OPCODE_TEXT:
                continue
            frame = parse_frame(data)
            kind = frame["type"]
            if kind == FRAME_HELLO:
                if self.last_seq is None:
                    self.last_seq = int(frame.get("head", 0))
                    self.baseline_seq = self.last_seq
                if resumed:
                    self._replay_upto = int(frame.get("head", 0))
                # a 5 s heartbeat: a silent link for 3 of them is a dead link
                ws.settimeout(max(3.0 * float(frame.get("heartbeat_s", 5)), 2.0))
            elif kind == FRAME_EVENTS:
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
        self.replayed += int(seq <= self._replay_upto)
        received = time.time()
        committed = _epoch(event.get("committed_at"))
        latency_ms = (received - committed) * 1000.0 if committed is not None else 0.0
        self.stream_seqs.append(seq)
        data = event.get("data")
        if event.get("type") == EVENT_DETECTION and isinstance(data, dict):
            self.events.append((
                seq, str(data["node_id"]), int(data["seq"]), received,
                committed if committed is not None else received,
                _epoch(data.get("captured_at")), stored_content_hash(data),
            ))
        self.on_delivery(latency_ms, size, None)

    def record(self, reached_at: float | None) -> dict[str, Any]:
        """The msgpack-able account the gate turns into a ``DashboardRecord``."""
        return {
            "name": self.name, "events": self.events, "stream_seqs": self.stream_seqs,
            "baseline_seq": self.baseline_seq, "duplicates": self.duplicates,
            "gaps": self.gaps, "sessions": self.connects, "resumes": self.resumes,
            "replayed": self.replayed, "slow_closes": self.slow_closes, "fatal": self.fatal,
            "last_seq": self.last_seq, "reached_at": reached_at,
        }
