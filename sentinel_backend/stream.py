"""The stream of docs/api.md: one sequencer stamps, every instance's hub fans out.

* :class:`Sequencer` - on every instance, but only the holder of an advisory lock works:
  it stamps committed, unsequenced ``stream_events`` rows with the next seq (gap-free, in
  the order they became visible) in one statement, then NOTIFYs ``sentinel_stream``.
* :class:`Hub` - on every instance: LISTENs, reads the newly stamped events once (the JSON
  of each event is built once, by PostgreSQL), groups them into one frame and hands the
  same frame to every live client. Each client has a bounded buffer (4008 past it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from .stream_events import insert_node_status_events

__all__ = ["SEQUENCER_LOCK_KEY", "Client", "Frame", "Hub", "Sequencer", "fetch_events"]

log = logging.getLogger("sentinel_backend.stream")

#: Advisory lock key of the sequencer leader ("sentinel" + 2).
SEQUENCER_LOCK_KEY = 0x5E171E02

_STAMP = """
WITH todo AS (
    SELECT id FROM stream_events WHERE seq IS NULL ORDER BY id LIMIT $2
), numbered AS (
    SELECT id, $1::bigint + row_number() OVER (ORDER BY id) AS s FROM todo
), upd AS (
    UPDATE stream_events e SET seq = n.s FROM numbered n WHERE e.id = n.id RETURNING e.seq
)
SELECT m, pg_notify('sentinel_stream', m::text) FROM (SELECT max(seq) AS m FROM upd) x
WHERE m IS NOT NULL
"""

_OFFLINE = f"""
WITH gone AS (
    UPDATE nodes SET status = 'offline'
    WHERE status = 'online' AND last_heartbeat < now() - make_interval(secs => $1)
    RETURNING node_id, status, last_heartbeat, blackout
)
{insert_node_status_events("gone")}
"""

_EVENTS = """
SELECT e.seq, json_build_object(
    'type', e.type, 'seq', e.seq, 'committed_at', e.committed_at + make_interval(secs => $4),
    'data', CASE WHEN e.detection_id IS NULL THEN e.data
                 ELSE d.payload || jsonb_build_object('id', d.id) END)::text AS js
FROM stream_events e LEFT JOIN detections d ON d.id = e.detection_id
WHERE e.seq > $1 AND e.seq <= $2
ORDER BY e.seq
LIMIT $3
"""

#: Frames stay well below the 1 MiB default message limit of common WebSocket clients.
MAX_FRAME_CHARS = 256 * 1024

_HEAD = "SELECT coalesce(max(seq), 0) FROM stream_events WHERE seq IS NOT NULL"


async def fetch_events(
    conn: asyncpg.Connection | asyncpg.Pool, after: int, upto: int, limit: int,
    clock_shift_s: float = 0.0,
) -> list[tuple[int, str]]:
    """Events with ``after < seq <= upto`` in seq order, each as its JSON text.
    ``clock_shift_s``: the planted fault SENTINEL_FAULT_CLOCK_SHIFT_S (faults.py), 0
    normally: added to every ``committed_at``."""
    rows = await conn.fetch(_EVENTS, after, upto, limit, float(clock_shift_s))
    return [(r["seq"], r["js"]) for r in rows]


async def _connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn, timeout=5)
    await conn.execute("SET TIME ZONE 'UTC'")
    return conn


class Sequencer:
    """Leader-elected stamper of stream seqs; also marks silent nodes offline."""

    def __init__(self, dsn: str, *, offline_after_s: float, poll_s: float = 0.05,
                 min_interval_s: float = 0.005,
                 on_stamp: Callable[[int, int], None] | None = None) -> None:
        self._dsn = dsn
        self._offline_after_s = offline_after_s
        self._poll_s = poll_s
        # Stamping at most every `min_interval_s` makes each stamp (a durable commit and
        # a NOTIFY) cover more events, so fewer, larger frames reach the clients.
        self._min_interval_s = min_interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._on_stamp = on_stamp
        self.leader = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await _connect(self._dsn)
                await conn.add_listener("sentinel_new", lambda *_: self._wake.set())
                while not await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", SEQUENCER_LOCK_KEY
                ):
                    await asyncio.sleep(1.0)
                self.leader = True
                log.info("sequencer: this instance is the leader")
                await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sequencer: %s; reconnecting", exc)
                await asyncio.sleep(0.5)
            finally:
                self.leader = False
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 1)
                    conn.terminate()

    async def _lead(self, conn: asyncpg.Connection) -> None:
        loop = asyncio.get_running_loop()
        head = int(await conn.fetchval(_HEAD))
        next_sweep = 0.0
        last_stamp = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            pause = last_stamp + self._min_interval_s - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            last_stamp = loop.time()
            self._wake.clear()
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + min(1.0, self._offline_after_s / 4)
                await conn.fetch(_OFFLINE, self._offline_after_s)
            while True:
                top = await conn.fetchval(_STAMP, head, 5000)
                if top is None:
                    break
                stamped = int(top) - head
                head = int(top)
                if self._on_stamp is not None:
                    self._on_stamp(stamped, head)
                if stamped < 5000:
                    break


@dataclass(slots=True)
class Frame:
    """A run of consecutive events and their ``events`` frame text, built once."""

    first: int
    last: int
    events: list[tuple[int, str]]
    text: str

    @classmethod
    def build(cls, events: list[tuple[int, str]]) -> Frame:
        body = ",".join(js for _, js in events)
        return cls(events[0][0], events[-1][0], events,
                   '{"type":"events","events":[' + body + "]}")

    @classmethod
    def build_many(cls, events: list[tuple[int, str]],
                   max_chars: int = MAX_FRAME_CHARS) -> list[Frame]:
        """Frames of consecutive events, each below `max_chars` (one event may exceed it)."""
        frames: list[Frame] = []
        start, size = 0, 0
        for index, (_, js) in enumerate(events):
            if size + len(js) > max_chars and index > start:
                frames.append(cls.build(events[start:index]))
                start, size = index, 0
            size += len(js) + 1
        if start < len(events):
            frames.append(cls.build(events[start:]))
        return frames


@dataclass(eq=False)
class Client:
    """One subscriber: a bounded buffer of frames not yet sent."""

    max_buffer: int
    pending: list[Frame] = field(default_factory=list)
    buffered: int = 0
    overflow: bool = False
    beat_due: bool = False
    gone: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, frame: Frame) -> None:
        if self.overflow:
            return
        self.pending.append(frame)
        self.buffered += len(frame.events)
        if self.buffered > self.max_buffer:
            self.overflow = True
            self.pending.clear()
        self.wake.set()

    def take(self, after: int) -> list[Frame]:
        """Everything buffered with seq > `after`, coalesced into as few frames as fit."""
        frames, self.pending, self.buffered = self.pending, [], 0
        frames = [f for f in frames if f.last > after]
        if len(frames) <= 1 and (not frames or frames[0].first > after):
            return frames
        return Frame.build_many([e for f in frames for e in f.events if e[0] > after])


class Hub:
    """Per-instance fan-out of the stream to WebSocket clients."""

    def __init__(self, dsn: str, pool: asyncpg.Pool, *, coalesce_s: float = 0.002,
                 poll_s: float = 0.25, heartbeat_s: float = 5.0, delay_s: float = 0.0,
                 rewrite: Callable[[list[tuple[int, str]]], list[tuple[int, str]]] | None = None,
                 clock_shift_s: float = 0.0) -> None:
        self._dsn = dsn
        self._clock_shift_s = clock_shift_s  # planted: SENTINEL_FAULT_CLOCK_SHIFT_S
        # Planted faults (SENTINEL_FAULT_STREAM_DELAY_MS, _STREAM_ALTER_ONE_IN,
        # _PHANTOM_ONE_IN, see faults.py); 0 and None normally.
        self._delay_s = delay_s
        self._rewrite = rewrite
        self._heartbeat_s = heartbeat_s
        self._beat_task: asyncio.Task[None] | None = None
        self._pool = pool
        self._coalesce_s = coalesce_s
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.clients: set[Client] = set()
        self.head = 0
        self.db_head = 0

    async def start(self) -> None:
        self.head = self.db_head = int(await self._pool.fetchval(_HEAD))
        self._task = asyncio.create_task(self._run(), name="hub")
        self._beat_task = asyncio.create_task(self._beat(), name="hub-heartbeat")

    async def stop(self) -> None:
        for task in (self._task, self._beat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _beat(self) -> None:
        """One timer for all clients: mark a heartbeat due and wake each sender (cheaper
        than a timeout per client per frame)."""
        while True:
            await asyncio.sleep(self._heartbeat_s)
            for client in self.clients:
                client.beat_due = True
                client.wake.set()

    def subscribe(self, max_buffer: int) -> tuple[Client, int]:
        """Register a client; returns it and the head it will get live events after."""
        client = Client(max_buffer)
        self.clients.add(client)
        return client, self.head

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)

    def _notified(self, _c: object, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self.db_head = max(self.db_head, int(payload))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await _connect(self._dsn)
                await conn.add_listener("sentinel_stream", self._notified)
                while True:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_s)
                    if self._wake.is_set() and self._coalesce_s:
                        await asyncio.sleep(self._coalesce_s)
                    self._wake.clear()
                    await self._pump(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hub: %s; reconnecting", exc)
                await asyncio.sleep(0.5)
            finally:
                if conn is not None:
                    conn.terminate()

    async def _pump(self, conn: asyncpg.Connection) -> None:
        if not self.clients:
            # Nobody listens here: skip reading the events (a subscriber that arrives
            # later replays from the database up to `head`, then gets live events > head).
            self.head = max(self.head, self.db_head)
            return
        while True:
            events = await fetch_events(conn, self.head, 1 << 62, 2000, self._clock_shift_s)
            if not events:
                return
            if self._delay_s:
                await asyncio.sleep(self._delay_s)
            self.head = events[-1][0]
            self.db_head = max(self.db_head, self.head)
            if self._rewrite is not None:
                events = self._rewrite(events)
            for frame in Frame.build_many(events):
                for client in self.clients:
                    client.push(frame)
            if len(events) < 2000:
                return
