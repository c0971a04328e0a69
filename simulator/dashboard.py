"""A dashboard client: one WebSocket subscriber of ``/ws`` that never loses its place.

It keeps the last stream seq it accepted and reconnects with ``?since=<last>`` after
a close: at once after 4008, with backoff after anything else (or when the server's
heartbeats stop). After a close that retrying cannot cure (4401, 4403, 4400) it stops
for good and records why in ``fatal``: :func:`simulator.protocol.close_action`, the one
meaning every client of this project gives a close code. It drops repeats, records gaps
and out-of-order arrivals, and measures every event's delivery latency (receipt -
committed_at) and end-to-end latency (receipt - captured_at). One parse per frame; one
receipt time per frame, so a frame that carries a batch of events costs one ledger row
per contiguous run.

Over ``wss://`` it verifies with the fleet's one TLS context (``ssl_context``, from
``simulator.tls.client_context``). The ``hello`` frame answers the upgrade request and
carries ``server_time``, so (connect started, server_time, hello received) is a
clock-offset sample (``clock``); the pushed heartbeat frames are not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from simulator._backoff import full_jitter
from simulator._clock_sampler import ClockSampler
from simulator._stats import MsHistogram
from simulator._store import TickBatch
from simulator.protocol import (
    CLOSE_TOO_SLOW,
    EVENT_DETECTION,
    FRAME_EVENTS,
    FRAME_HEARTBEAT,
    FRAME_HELLO,
    CloseAction,
    close_action,
    parse_frame,
    stored_content_hash,
    stream_url,
)
from simulator.tls import websockets_ssl_kwargs

__all__ = ["DashboardClient", "DashboardSink", "event_times", "parse_time_us"]

log = logging.getLogger("simulator.dashboard")


def parse_time_us(value: str) -> int:
    """Microseconds since the epoch of an RFC 3339 timestamp."""
    dt = datetime.fromisoformat(value)
    return int(dt.timestamp() * 1_000_000)


_FRAMES: dict[bytes | str, dict[str, Any]] = {}
_FRAMES_MAX = 128


def _parse_shared_frame(raw: bytes | str) -> dict[str, Any]:
    """:func:`simulator.protocol.parse_frame`, parsed once for all the dashboards of this
    process: the server sends the same frame to every subscriber, and parsing it 100 times
    was a third of the fleet's CPU at 100 dashboards x 1,000 events/s. Callers only read
    the result."""
    if len(raw) < 512:
        return parse_frame(raw)
    msg = _FRAMES.get(raw)
    if msg is None:
        if len(_FRAMES) >= _FRAMES_MAX:
            del _FRAMES[next(iter(_FRAMES))]
        msg = _FRAMES[raw] = parse_frame(raw)
    return msg


class DashboardSink(Protocol):
    """What a dashboard writes into: the fleet's open tick batch and its stream cache.

    ``stream_cache`` maps a stream seq to (committed_us, captured_us) once any
    dashboard has parsed it, so 100 dashboards parse each event's times once.
    ``first_events`` maps a stream seq to the event as the fleet first received it (the
    ledger holds its content hash): each dashboard compares its own copy with it (``==``
    on dicts, or ``is`` for a frame parsed once for all) and records the content hash of
    its copy only when they differ or the first receipt is gone.
    """

    @property
    def batch(self) -> TickBatch: ...

    @property
    def stream_cache(self) -> dict[int, tuple[int | None, int | None]]: ...

    @property
    def first_events(self) -> dict[int, dict[str, Any]]: ...

    def stream_info(self, seq: int, event: dict[str, Any]) -> tuple[int | None, int | None]:
        """Parse (and record in the ledger's stream table) an event seen for the first time."""
        ...


def event_times(event: dict[str, Any]) -> tuple[int | None, int | None, str | None, int | None]:
    """(committed_us, captured_us, node_id, node_seq) of a stream event."""
    committed = event.get("committed_at")
    committed_us = parse_time_us(committed) if committed else None
    data = event.get("data") or {}
    captured_us: int | None = None
    node_seq: int | None = None
    if event.get("type") == EVENT_DETECTION:
        cap = data.get("captured_at")
        if cap:
            captured_us = parse_time_us(cap)
        ns = data.get("seq")
        node_seq = int(ns) if ns is not None else None
    node_id = data.get("node_id")
    return committed_us, captured_us, node_id if isinstance(node_id, str) else None, node_seq


class DashboardClient:
    """One subscriber. Run with ``await client.run(stop_event)``."""

    def __init__(
        self,
        idx: int,
        name: str,
        target: str,
        token: str,
        sink: DashboardSink,
        since: int,
        counters: tuple[int, int, int, int] = (0, 0, 0, 0),
        sessions: tuple[int, int, int, int] = (0, 0, 0, 0),
        delivery: MsHistogram | None = None,
        e2e: MsHistogram | None = None,
        backoff_base_s: float = 0.2,
        backoff_cap_s: float = 5.0,
        open_timeout_s: float = 5.0,
        on_event: Callable[[int], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        clock: ClockSampler | None = None,
    ) -> None:
        self.idx = idx
        self.name = name
        self.target = target
        self.token = token
        self.sink = sink
        self.last_seq = since
        self.duplicates, self.gaps, self.out_of_order, self.reconnects = counters
        self.holes: set[int] = set()
        # Sessions (connections the server said hello on), resumes (sessions after the
        # first), events those resumes replayed from the database, 4008 closes.
        self.sessions, self.resumes, self.replayed, self.slow_closes = sessions
        self._replay_upto = 0  # events up to this seq in this session are replayed
        self.delivery = delivery if delivery is not None else MsHistogram()
        self.e2e = e2e if e2e is not None else MsHistogram()
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.open_timeout_s = open_timeout_s
        self.received = 0
        self.heartbeat_s = 5.0
        self.last_frame = time.monotonic()
        self.connected = asyncio.Event()
        self.head = 0
        self.last_close: str | None = None
        #: Why this dashboard stopped for good (a close retrying cannot cure), else None.
        self.fatal: str | None = None
        self._ws: ClientConnection | None = None
        self._on_event = on_event
        self._ssl_context = ssl_context
        self._clock = clock
        self._connect_started: float | None = None  # this connection's, until its hello

    def _mark_dirty(self) -> None:
        self.sink.batch.dashboards[self.idx] = (
            self.last_seq, self.duplicates, self.gaps, self.out_of_order, self.reconnects,
            self.sessions, self.resumes, self.replayed, self.slow_closes, self.fatal,
        )

    def check_alive(self, now: float) -> None:
        """Abort the link when the server's heartbeats have stopped (called by the fleet ticker)."""
        ws = self._ws
        if ws is not None and now - self.last_frame > 2.5 * self.heartbeat_s + 1.0:
            log.info("%s: no frame for %.1f s, reconnecting", self.name, now - self.last_frame)
            self.last_frame = now
            with contextlib.suppress(Exception):
                ws.transport.abort()

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        first = True
        while not stop.is_set():
            if not first:
                self.reconnects += 1
                self._mark_dirty()
            first = False
            url = stream_url(self.target, self.last_seq, self.token)
            self._connect_started = time.time()
            try:
                async with connect(
                    url, open_timeout=self.open_timeout_s, ping_interval=None, compression=None,
                    max_size=64 * 1024 * 1024, max_queue=64, close_timeout=1,
                    **websockets_ssl_kwargs(url, self._ssl_context),
                ) as ws:
                    self._ws = ws
                    self.last_frame = time.monotonic()
                    while True:
                        raw = await ws.recv(decode=False)
                        self._on_frame(raw)
                        if self.connected.is_set():
                            attempt = 0
            except asyncio.CancelledError:
                raise
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                self.last_close = f"closed {code}"
                action = close_action(code)
                if code == CLOSE_TOO_SLOW:
                    self.slow_closes += 1
                    self._mark_dirty()
                if action is CloseAction.FATAL:
                    reason = exc.rcvd.reason if exc.rcvd is not None else ""
                    self.fatal = f"closed {code}: {reason}"
                    self._mark_dirty()
                    log.warning("%s: %s; not reconnecting (check the viewer token)",
                                self.name, self.fatal)
                elif action is CloseAction.RESUME_NOW:  # attempt 0: no backoff wait
                    attempt = 0
                else:
                    attempt += 1
            except InvalidStatus as exc:
                self.last_close = f"http {exc.response.status_code}"
                attempt += 1
            except WebSocketException as exc:  # handshake cut short, protocol error
                self.last_close = type(exc).__name__
                attempt += 1
            except (OSError, TimeoutError) as exc:
                self.last_close = type(exc).__name__
                attempt += 1
            except Exception as exc:  # a malformed frame must not kill the subscriber
                log.exception("%s: unexpected %s", self.name, exc)
                self.last_close = type(exc).__name__
                attempt += 1
            finally:
                self._ws = None
                self.connected.clear()
            if stop.is_set() or self.fatal is not None:
                break
            delay = full_jitter(attempt, self.backoff_base_s, self.backoff_cap_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    def _on_frame(self, raw: bytes | str) -> None:
        recv_us = time.time_ns() // 1000
        self.last_frame = time.monotonic()
        msg = _parse_shared_frame(raw)
        mtype = msg["type"]
        if mtype == FRAME_EVENTS:
            self._on_events(msg["events"], recv_us)
        elif mtype == FRAME_HEARTBEAT:
            self.head = int(msg.get("head") or 0)
        elif mtype == FRAME_HELLO:
            if self._clock is not None and self._connect_started is not None:
                self._clock.add(self._connect_started, msg.get("server_time"),
                                recv_us / 1e6)
            self._connect_started = None
            hb = msg.get("heartbeat_s")
            if isinstance(hb, int | float) and hb > 0:
                self.heartbeat_s = float(hb)
            self.head = int(msg.get("head") or 0)
            if self.sessions:  # a session after a break: what it replays is up to the head
                self.resumes += 1
                self._replay_upto = self.head
            self.sessions += 1
            self.connected.set()
            self._mark_dirty()

    def _on_events(self, events: list[dict[str, Any]], recv_us: int) -> None:
        # The hot path (100 dashboards x every event): locals, no per-event calls
        # unless the event is new to the whole fleet.
        batch = self.sink.batch
        cache_get = self.sink.stream_cache.get
        first_get = self.sink.first_events.get
        stream_info = self.sink.stream_info
        replay_upto = self._replay_upto
        replayed = 0
        dh, eh = self.delivery, self.e2e
        db, eb, dmax, emax = dh.buckets, eh.buckets, dh.max_ms, eh.max_ms
        last = self.last_seq
        run_lo = run_hi = -1
        runs = batch.received
        accepted = n_d = n_e = 0
        min_c = min_cap = recv_us
        for ev in events:
            s = ev["seq"]
            if s == last + 1:
                last = s
            elif s > last + 1:
                self.gaps += 1
                batch.anomalies.append((self.idx, "gap", last + 1, s - 1, recv_us))
                self.holes.update(range(last + 1, s))
                last = s
            elif s in self.holes:
                self.holes.discard(s)
                self.out_of_order += 1
                batch.anomalies.append((self.idx, "out_of_order", s, s, recv_us))
            else:
                self.duplicates += 1
                batch.anomalies.append((self.idx, "duplicate", s, s, recv_us))
                continue
            accepted += 1
            if s == run_hi + 1:
                run_hi = s
            else:
                if run_lo >= 0:
                    runs.append((self.idx, run_lo, run_hi, recv_us))
                run_lo = run_hi = s
            if s <= replay_upto:
                replayed += 1
            info = cache_get(s)
            if info is None:
                info = stream_info(s, ev)
            first = first_get(s)
            if first is not ev and first != ev:
                data = ev.get("data")
                batch.receipt_hashes.append((
                    self.idx, s,
                    stored_content_hash(data) if isinstance(data, dict) else None, recv_us))
            c_us, cap_us = info
            if c_us is not None:
                i = (recv_us - c_us) // 1000
                db[0 if i < 0 else (i if i < dmax else dmax)] += 1
                n_d += 1
                if c_us < min_c:
                    min_c = c_us
            if cap_us is not None:
                i = (recv_us - cap_us) // 1000
                eb[0 if i < 0 else (i if i < emax else emax)] += 1
                n_e += 1
                if cap_us < min_cap:
                    min_cap = cap_us
        if run_lo >= 0:
            runs.append((self.idx, run_lo, run_hi, recv_us))
        dh.count += n_d
        eh.count += n_e
        if n_d and (recv_us - min_c) / 1000.0 > dh.max_seen:
            dh.max_seen = (recv_us - min_c) / 1000.0
        if n_e and (recv_us - min_cap) / 1000.0 > eh.max_seen:
            eh.max_seen = (recv_us - min_cap) / 1000.0
        self.last_seq = last
        self.received += accepted
        if replayed:
            self.replayed += replayed
        elif replay_upto and last > replay_upto:
            self._replay_upto = 0  # past the replay: the rest of the session is live
        if self._on_event is not None:
            self._on_event(accepted)
        self._mark_dirty()
