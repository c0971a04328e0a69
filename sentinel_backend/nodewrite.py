"""Group commit of node registrations and heartbeats.

At 10,000 nodes the fleet sends 1,000 heartbeats a second, and registers 10,000 nodes on
start; one transaction (one fsync) each saturates one worker. Here, as for single
detections in :mod:`.ingest`, concurrent requests are queued and written by one statement
per group (``unnest``), and every request is answered only after that statement's commit.
What each request writes is unchanged: a registration still gets its ``node_status``
stream event and its audit row; a heartbeat that changes a node's status (offline ->
online) still gets a stream event and an audit row; a heartbeat that changes nothing but
``last_heartbeat`` / ``outbox_depth`` writes neither. The queueing is
:mod:`._groupcommit`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import orjson

from ._groupcommit import GroupCommit
from .db import DatabaseUnavailable, is_unavailable
from .stream_events import insert_node_status_events

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


_REGISTER = f"""
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
    {insert_node_status_events("up ORDER BY node_id")}
), aud AS (
    INSERT INTO audit_log (actor, action, target, details)
    SELECT i.actor, CASE WHEN u.created THEN 'node.register' ELSE 'node.reregister' END,
           u.node_id, jsonb_build_object('name', i.name, 'model', i.model)
    FROM up u JOIN input i USING (node_id) ORDER BY u.node_id
)
SELECT node_id, created, status FROM up
"""

_BEAT = f"""
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
    {insert_node_status_events("upd WHERE status <> old_status ORDER BY node_id")}
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


class GroupWriter(GroupCommit[T, R]):
    """Group commit (:class:`GroupCommit`) of `write` (one statement on one connection):
    groups of distinct keys, written one at a time, so that no two groups lock the same
    rows in opposite order. Bounded: :class:`Overloaded` (429) past `queue_max`.

    When a group fails on one bad item (or a deadlock with another writer), the items are
    written again one by one, each answered with its own outcome.
    """

    def __init__(self, pool: asyncpg.Pool, write: Callable[[asyncpg.Connection, Sequence[T]],
                                                           Awaitable[list[R]]],
                 key: Callable[[T], str], *, name: str, max_group: int = 1000,
                 queue_max: int = 20_000) -> None:
        async def write_group(items: list[T]) -> Sequence[R | BaseException]:
            async with pool.acquire() as conn:
                return await _write_or_split(conn, write, items, name)

        super().__init__(write_group, name=name, max_group=max_group, queue_max=queue_max,
                         parallel=1, key=key, failure=_group_failure(name))


async def _write_or_split(conn: asyncpg.Connection,
                          write: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[list[R]]],
                          items: list[T], name: str) -> Sequence[R | BaseException]:
    try:
        return await write(conn, items)
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError,
            asyncpg.DeadlockDetectedError) as exc:
        if len(items) == 1:
            raise
        log.warning("%s group of %d failed (%s); writing one by one", name, len(items), exc)
    out: list[R | BaseException] = []
    for item in items:
        try:
            out.append((await write(conn, [item]))[0])
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as err:
            out.append(err)
    return out


def _group_failure(name: str) -> Callable[[BaseException], BaseException]:
    """What every caller of a failed group gets: 503 when the database is unreachable,
    else the database's own error."""
    def failure(exc: BaseException) -> BaseException:
        if is_unavailable(exc):
            return DatabaseUnavailable(str(exc))
        if not isinstance(exc, asyncpg.PostgresError):
            log.error("%s group write failed", name, exc_info=exc)
        return exc
    return failure


def location_json(location: object) -> str | None:
    """The ``location`` column's JSON text (None keeps the stored location)."""
    return orjson.dumps(location).decode() if location else None
