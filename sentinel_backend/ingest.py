"""The ingest path: every detection is stored here, and only here.

Single-detection requests go through :class:`GroupCommitter`: concurrent requests are
queued, a committer inserts all of them in one transaction (``unnest`` + ``ON CONFLICT DO
NOTHING``), and each request's future is resolved only after COMMIT. One fsync then acks
many requests, which is how one worker passes the per-commit fsync ceiling without giving
up ack-after-commit. The batch endpoint calls :func:`store_detections` directly.

Keep new behaviour of the ingest path (e.g. planted faults for self-tests) in this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from .db import DatabaseUnavailable, Overloaded, is_unavailable
from .faults import PlantedFaults
from .validation import Detection

__all__ = ["GroupCommitter", "Outcome", "store_detections"]

log = logging.getLogger("sentinel_backend.ingest")

_INSERT = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::timestamptz[],
                         $5::text[], $6::bytea[])
        AS t(node_id, seq, event_id, captured_at, payload, content_hash)
), ins AS (
    INSERT INTO detections (node_id, seq, event_id, captured_at, payload, content_hash,
                            stream_event_id)
    SELECT node_id, seq, event_id, captured_at, payload::jsonb, content_hash,
           nextval('stream_events_id_seq') FROM input
    ON CONFLICT (node_id, seq) DO NOTHING
    RETURNING id, node_id, seq, stream_event_id
), ev AS (
    INSERT INTO stream_events (id, type, detection_id)
    SELECT stream_event_id, 'detection', id FROM ins
), wake AS (
    SELECT pg_notify('sentinel_new', '') AS n WHERE EXISTS (SELECT 1 FROM ins)
)
SELECT i.id, i.node_id, i.seq FROM ins i LEFT JOIN wake ON true
"""

#: The same without ON CONFLICT: cheaper when nothing collides (no speculative insertion);
#: a collision aborts it whole and the ON CONFLICT form runs instead.
_INSERT_FAST = _INSERT.replace("ON CONFLICT (node_id, seq) DO NOTHING", "")

_EXISTING = """
SELECT d.id, d.node_id, d.seq, d.content_hash
FROM detections d
JOIN unnest($1::text[], $2::bigint[]) AS k(node_id, seq)
  ON d.node_id = k.node_id AND d.seq = k.seq
"""


def _columns(dets: Sequence[Detection]) -> tuple[list[Any], ...]:
    return (
        [d.node_id for d in dets],
        [d.seq for d in dets],
        [d.event_id for d in dets],
        [d.captured_at for d in dets],
        [d.payload_json for d in dets],
        [d.content_hash for d in dets],
    )


def _in_order(dets: Sequence[Detection], rows: list[asyncpg.Record]) -> list[asyncpg.Record]:
    by_key = {(r["node_id"], r["seq"]): r for r in rows}
    return [by_key[(d.node_id, d.seq)] for d in dets]


@dataclass(slots=True)
class Outcome:
    """What happened to one detection: 201 stored, 200 duplicate, 409 conflict, 422 refused."""

    status: int
    id: int | None
    detail: str | None = None


class _FastPath:
    """After a collision, skip the optimistic plain INSERT for the next few groups."""

    skip = 0


async def _store(conn: asyncpg.Connection, dets: Sequence[Detection], *,
                 optimistic: bool = True) -> list[Outcome]:
    """``optimistic``: try the plain INSERT first. Off inside an explicit transaction, where
    its unique violation would abort the whole transaction instead of one statement."""
    if optimistic and _FastPath.skip == 0:
        try:
            rows = await conn.fetch(_INSERT_FAST, *_columns(dets))
            return [Outcome(201, r["id"]) for r in _in_order(dets, rows)]
        except asyncpg.UniqueViolationError:
            _FastPath.skip = 20
    elif optimistic:
        _FastPath.skip -= 1
    rows = await conn.fetch(_INSERT, *_columns(dets))
    inserted = {(r["node_id"], r["seq"]): r["id"] for r in rows}
    out: list[Outcome] = []
    missing = [d for d in dets if (d.node_id, d.seq) not in inserted]
    existing: dict[tuple[str, int], tuple[int, bytes]] = {}
    if missing:
        for r in await conn.fetch(
            _EXISTING, [d.node_id for d in missing], [d.seq for d in missing]
        ):
            existing[(r["node_id"], r["seq"])] = (r["id"], bytes(r["content_hash"]))
    claimed: set[tuple[str, int]] = set()
    for d in dets:
        key = (d.node_id, d.seq)
        if key in inserted and key not in claimed:
            claimed.add(key)
            out.append(Outcome(201, inserted[key]))
            continue
        row_id, digest = existing.get(key) or (inserted.get(key), b"")
        if key in inserted:  # the same identity twice in one group: compare with the first
            first = next(x for x in dets if (x.node_id, x.seq) == key)
            digest = first.content_hash
        if digest == d.content_hash:
            out.append(Outcome(200, row_id))
        else:
            out.append(Outcome(409, row_id, "this (node_id, seq) was stored with other content"))
    return out


_UNSTREAM = """
DELETE FROM stream_events e USING detections d
WHERE d.id = ANY($1::bigint[]) AND e.id = d.stream_event_id AND e.seq IS NULL
"""


async def _store_with_faults(pool: asyncpg.Pool, dets: Sequence[Detection],
                             faults: PlantedFaults) -> list[Outcome]:
    """The ingest path with planted faults (self-tests only, see :mod:`.faults`)."""
    dropped = [faults.drops(d.node_id, d.seq) for d in dets]
    kept = [d for d, drop in zip(dets, dropped, strict=True) if not drop]
    stored: list[Outcome] = []
    if kept:
        async with pool.acquire() as conn, conn.transaction():
            stored = await _store(conn, kept, optimistic=False)
            hidden = [o.id for d, o in zip(kept, stored, strict=True)
                      if o.status == 201 and o.id is not None
                      and faults.skips_stream(d.node_id, d.seq)]
            if hidden:
                await conn.execute(_UNSTREAM, hidden)
    answers = iter(stored)
    return [Outcome(201, 0) if drop else next(answers) for drop in dropped]


async def store_detections(pool: asyncpg.Pool, dets: Sequence[Detection],
                           faults: PlantedFaults | None = None) -> list[Outcome]:
    """Store `dets` in one transaction; the outcomes are valid only once this returns.

    A data error PostgreSQL raises for one item (validation should have caught it) would
    abort everybody's transaction, so then the items are stored one by one and only the
    culprit gets 422. ``faults``: planted faults for the harness's self-tests.
    """
    if not dets:
        return []
    try:
        if faults is not None and (faults.drop_one_in or faults.stream_skip_one_in):
            return await _store_with_faults(pool, dets, faults)
        # One statement stores the detections and their stream events atomically, so no
        # explicit BEGIN/COMMIT round trips: the statement's own commit is the ack point.
        async with pool.acquire() as conn:
            return await _store(conn, dets)
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        if len(dets) == 1:
            return [Outcome(422, None, f"refused by the database: {exc}")]
        log.warning("group of %d failed (%s); storing one by one", len(dets), exc)
        outcomes: list[Outcome] = []
        for d in dets:
            outcomes.extend(await store_detections(pool, [d], faults))
        return outcomes
    except Exception as exc:
        if is_unavailable(exc):
            raise DatabaseUnavailable(str(exc)) from exc
        raise


class GroupCommitter:
    """Queue single detections and commit them in groups; bounded (429 past the bound)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        max_group: int = 1000,
        queue_max: int = 10_000,
        parallel: int = 2,
        on_group: Callable[[int, float], None] | None = None,
        faults: PlantedFaults | None = None,
    ) -> None:
        self._pool = pool
        self._faults = faults
        self._max_group = max_group
        self._queue_max = queue_max
        self._pending: list[tuple[Detection, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(parallel)
        self._task: asyncio.Task[None] | None = None
        self._groups: set[asyncio.Task[None]] = set()
        self._on_group = on_group

    @property
    def depth(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-committer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._groups:
            await asyncio.gather(*self._groups, return_exceptions=True)
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("backend shutting down"))
        self._pending.clear()

    async def submit(self, det: Detection) -> Outcome:
        """Queue `det`; returns after the COMMIT that stored it (or raises)."""
        if len(self._pending) >= self._queue_max:
            raise Overloaded("ingest queue full")
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((det, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._slots.acquire()
                group = self._pending[: self._max_group]
                del self._pending[: self._max_group]
                task = asyncio.create_task(self._commit(group))
                self._groups.add(task)
                task.add_done_callback(self._groups.discard)

    async def _commit(self, group: list[tuple[Detection, asyncio.Future[Outcome]]]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            outcomes = await store_detections(self._pool, [d for d, _ in group],
                                              self._faults)
        except BaseException as exc:
            error = exc if isinstance(exc, DatabaseUnavailable) else DatabaseUnavailable(
                f"ingest failed: {exc!r}")
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(error)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if not isinstance(exc, DatabaseUnavailable):
                log.exception("group commit failed")
            return
        finally:
            self._slots.release()
        for (_, fut), outcome in zip(group, outcomes, strict=True):
            if not fut.done():
                fut.set_result(outcome)
        if self._on_group is not None:
            self._on_group(len(group), loop.time() - started)
