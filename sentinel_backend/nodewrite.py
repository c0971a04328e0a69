"""Group commit of node registrations and heartbeats.

At 10,000 nodes the fleet sends 1,000 heartbeats a second, and registers 10,000 nodes on
start; one transaction (one fsync) each saturates one worker. Here, as for single
detections in :mod:`.ingest`, concurrent requests are queued and written by one statement
per group (``unnest``), and every request is answered only after that statement's commit.
What each request writes is unchanged: a registration still gets its ``node_status``
stream event and its audit row; a heartbeat that changes a node's status (offline ->
online) still gets a stream event and an audit row; a heartbeat that changes nothing but
``last_heartbeat`` / ``outbox_depth`` writes neither (as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg
import orjson

from .db import DatabaseUnavailable, Overloaded, is_unavailable

__all__ = [
    "Beat",
    "BeatResult",
    "GroupWriter",
    "RegResult",
    "Registration",
    "beat_group",
    "register_group",
]

log = logging.getLogger("sentinel_backend.nodewrite")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Registration:
    node_id: str
    name: str | None
    model: str | None
    location_json: str | None
    token_hash: bytes
    actor: str


@dataclass(frozen=True, slots=True)
class RegResult:
    created: bool
    status: str


@dataclass(frozen=True, slots=True)
class Beat:
    node_id: str
    depth: int | None
    actor: str


@dataclass(frozen=True, slots=True)
class BeatResult:
    status: str
    blackout: bool
    pending: int


_REGISTER = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                         $6::text[])
        AS t(node_id, name, model, location, token_hash, actor)
), up AS (
    INSERT INTO nodes (node_id, name, model, location, token_hash, last_heartbeat)
    SELECT node_id, name, model, location::jsonb, token_hash, now() FROM input
    ORDER BY node_id  -- lock order of the heartbeat writer: no deadlock between the two
    ON CONFLICT (node_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,
        name = coalesce(EXCLUDED.name, nodes.name),
        model = coalesce(EXCLUDED.model, nodes.model),
        location = coalesce(EXCLUDED.location, nodes.location),
        status = CASE WHEN nodes.blackout THEN 'covert' ELSE 'online' END,
        last_heartbeat = now()
    RETURNING node_id, (xmax = 0) AS created, status, last_heartbeat, blackout
), ev AS (
    INSERT INTO stream_events (type, data)
    SELECT 'node_status', jsonb_build_object('node_id', node_id, 'status', status,
           'last_heartbeat', last_heartbeat, 'blackout', blackout)
    FROM up ORDER BY node_id
), aud AS (
    INSERT INTO audit_log (actor, action, target, details)
    SELECT i.actor, CASE WHEN u.created THEN 'node.register' ELSE 'node.reregister' END,
           u.node_id, jsonb_build_object('name', i.name, 'model', i.model)
    FROM up u JOIN input i USING (node_id) ORDER BY u.node_id
)
SELECT node_id, created, status FROM up
"""

_BEAT = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::text[]) AS t(node_id, depth, actor)
), old AS (
    SELECT n.node_id, n.status FROM nodes n JOIN input i USING (node_id)
    ORDER BY n.node_id FOR UPDATE OF n
), upd AS (
    UPDATE nodes SET last_heartbeat = now(), outbox_depth = i.depth,
        status = CASE WHEN nodes.blackout THEN 'covert' ELSE 'online' END
    FROM input i JOIN old o USING (node_id)
    WHERE nodes.node_id = i.node_id
    RETURNING nodes.node_id, nodes.status, o.status AS old_status, nodes.blackout,
        nodes.last_heartbeat, i.actor
), ev AS (
    INSERT INTO stream_events (type, data)
    SELECT 'node_status', jsonb_build_object('node_id', node_id, 'status', status,
           'last_heartbeat', last_heartbeat, 'blackout', blackout)
    FROM upd WHERE status <> old_status ORDER BY node_id
), aud AS (
    INSERT INTO audit_log (actor, action, target, details)
    SELECT actor, 'node.status', node_id,
           jsonb_build_object('from', old_status, 'to', status)
    FROM upd WHERE status <> old_status ORDER BY node_id
)
SELECT u.node_id, u.status, u.blackout,
       (SELECT count(*) FROM node_commands c WHERE c.node_id = u.node_id
        AND c.status IN ('pending', 'delivered')) AS pending
FROM upd u
"""


async def register_group(conn: asyncpg.Connection,
                         regs: Sequence[Registration]) -> list[RegResult | None]:
    """Register or re-register `regs` (distinct node ids) in one statement."""
    rows = await conn.fetch(
        _REGISTER, [r.node_id for r in regs], [r.name for r in regs], [r.model for r in regs],
        [r.location_json for r in regs], [r.token_hash for r in regs], [r.actor for r in regs])
    by_id = {row["node_id"]: RegResult(bool(row["created"]), str(row["status"]))
             for row in rows}
    return [by_id.get(r.node_id) for r in regs]


async def beat_group(conn: asyncpg.Connection, beats: Sequence[Beat]) -> list[BeatResult | None]:
    """Record `beats` (distinct node ids) in one statement; None for an unknown node."""
    rows = await conn.fetch(_BEAT, [b.node_id for b in beats], [b.depth for b in beats],
                            [b.actor for b in beats])
    by_id = {row["node_id"]: BeatResult(str(row["status"]), bool(row["blackout"]),
                                        int(row["pending"])) for row in rows}
    return [by_id.get(b.node_id) for b in beats]


class GroupWriter(Generic[T, R]):
    """Queue items, write them in groups of distinct keys with `write`; answer each caller
    after the commit of its group. Bounded: :class:`Overloaded` (429) past `queue_max`.

    Groups are written one at a time (no two groups lock the same rows in opposite order).
    A later item with the key of one already in the open group waits for the next group.
    """

    def __init__(self, pool: asyncpg.Pool, write: Callable[[asyncpg.Connection, Sequence[T]],
                                                           Awaitable[list[R]]],
                 key: Callable[[T], str], *, name: str, max_group: int = 1000,
                 queue_max: int = 20_000) -> None:
        self._pool = pool
        self._write = write
        self._key = key
        self._name = name
        self._max_group = max_group
        self._queue_max = queue_max
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"group-writer-{self._name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("backend shutting down"))
        self._pending.clear()

    async def submit(self, item: T) -> R:
        """Queue `item`; returns after the COMMIT that wrote it (or raises)."""
        if len(self._pending) >= self._queue_max:
            raise Overloaded(f"{self._name} queue full")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wake.set()
        return await fut

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        group: list[tuple[T, asyncio.Future[R]]] = []
        rest: list[tuple[T, asyncio.Future[R]]] = []
        seen: set[str] = set()
        for entry in self._pending:
            k = self._key(entry[0])
            if len(group) < self._max_group and k not in seen:
                seen.add(k)
                group.append(entry)
            else:
                rest.append(entry)
        self._pending = rest
        return group

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._commit(self._take())

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in group]
        try:
            async with self._pool.acquire() as conn:
                try:
                    results = await self._write(conn, items)
                except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError,
                        asyncpg.DeadlockDetectedError) as exc:
                    if len(items) == 1:
                        raise
                    # One bad item (or a deadlock with another writer) must not fail the
                    # others: write them one by one, each answered with its own outcome.
                    log.warning("%s group of %d failed (%s); writing one by one",
                                self._name, len(items), exc)
                    for item, fut in group:
                        try:
                            one = (await self._write(conn, [item]))[0]
                        except (asyncpg.DataError,
                                asyncpg.IntegrityConstraintViolationError) as err:
                            if not fut.done():
                                fut.set_exception(err)
                            continue
                        if not fut.done():
                            fut.set_result(one)
                    return
        except asyncio.CancelledError:
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(DatabaseUnavailable("backend shutting down"))
            raise
        except BaseException as exc:
            error: BaseException = exc
            if is_unavailable(exc):
                error = DatabaseUnavailable(str(exc))
            elif not isinstance(exc, asyncpg.PostgresError):
                log.exception("%s group write failed", self._name)
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(error)
            return
        for (_, fut), result in zip(group, results, strict=True):
            if not fut.done():
                fut.set_result(result)


def location_json(location: object) -> str | None:
    return orjson.dumps(location).decode() if location else None
