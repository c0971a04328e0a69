"""The ingest path: every detection is stored here, and only here.

Single-detection requests go through :class:`GroupCommitter` (group commit, see
:mod:`._groupcommit`): concurrent requests are stored by one statement (``unnest``) and
each is answered only after its COMMIT. The batch endpoint calls :func:`store_detections`
directly.

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
from asyncpg.transaction import Transaction

from ._groupcommit import GroupCommit
from .db import DatabaseUnavailable, is_unavailable
from .faults import PlantedFaults
from .stream_events import insert_detection_events
from .validation import Detection

__all__ = ["GroupCommitter", "Outcome", "store_detections"]

log = logging.getLogger("sentinel_backend.ingest")

# The two INSERTs differ only in the ON CONFLICT clause; both are written out so that an
# edit of one cannot silently turn the fast one into the slow one (tests/backend checks
# that they stay twins). One statement stores the detections, reserves their stream event
# ids, writes the events and wakes the sequencer.
_DETECTION_EVENTS = insert_detection_events("ins")

#: Without ON CONFLICT: cheaper when nothing collides (no speculative insertion); a
#: collision aborts it whole and :data:`_INSERT` runs instead.
_INSERT_FAST = f"""
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::timestamptz[],
                         $5::text[], $6::bytea[])
        AS t(node_id, seq, event_id, captured_at, payload, content_hash)
), ins AS (
    INSERT INTO detections (node_id, seq, event_id, captured_at, payload, content_hash,
                            stream_event_id)
    SELECT node_id, seq, event_id, captured_at, payload::jsonb, content_hash,
           nextval('stream_events_id_seq') FROM input
    RETURNING id, node_id, seq, stream_event_id
), ev AS (
    {_DETECTION_EVENTS}
), wake AS (
    SELECT pg_notify('sentinel_new', '') AS n WHERE EXISTS (SELECT 1 FROM ins)
)
SELECT i.id, i.node_id, i.seq FROM ins i LEFT JOIN wake ON true
"""

#: Collisions skipped: what is not returned was stored before (compared by content hash).
_INSERT = f"""
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
    {_DETECTION_EVENTS}
), wake AS (
    SELECT pg_notify('sentinel_new', '') AS n WHERE EXISTS (SELECT 1 FROM ins)
)
SELECT i.id, i.node_id, i.seq FROM ins i LEFT JOIN wake ON true
"""

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
                 optimistic: bool = True, unchecked: bool = False) -> list[Outcome]:
    """``optimistic``: try the plain INSERT first. Off inside an explicit transaction, where
    its unique violation would abort the whole transaction instead of one statement.
    ``unchecked``: the planted fault SENTINEL_FAULT_NO_IDEMPOTENCY (no unique key left, so
    the plain INSERT stores every retry again)."""
    if unchecked:
        rows = await conn.fetch(_INSERT_FAST, *_columns(dets))
        return [Outcome(201, r["id"]) for r in _in_order(dets, rows)]
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


#: Transactions of SENTINEL_FAULT_ACK_BEFORE_COMMIT acked and still waiting to commit
#: (kept referenced until done; empty unless that planted fault is on).
_LATE_COMMITS: set[asyncio.Task[None]] = set()


async def _commit_later(pool: asyncpg.Pool, conn: asyncpg.Connection,
                        tx: Transaction, delay_s: float) -> None:
    try:
        await asyncio.sleep(delay_s)
        await tx.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await tx.rollback()
        raise
    finally:
        await pool.release(conn)


async def _store_with_faults(pool: asyncpg.Pool, dets: Sequence[Detection],
                             faults: PlantedFaults) -> list[Outcome]:
    """The ingest path with planted faults (self-tests only, see :mod:`.faults`)."""
    dropped = [faults.drops(d.node_id, d.seq) for d in dets]
    kept = [d for d, drop in zip(dets, dropped, strict=True) if not drop]
    stored: list[Outcome] = []
    if kept:
        conn = await pool.acquire()
        tx = conn.transaction()
        try:
            await tx.start()
            stored = await _store(conn, kept, optimistic=False,
                                  unchecked=faults.no_idempotency)
            hidden = [o.id for d, o in zip(kept, stored, strict=True)
                      if o.status == 201 and o.id is not None
                      and faults.skips_stream(d.node_id, d.seq)]
            if hidden:
                await conn.execute(_UNSTREAM, hidden)
        except BaseException:
            with contextlib.suppress(Exception):
                await tx.rollback()
            await pool.release(conn)
            raise
        if faults.ack_before_commit_ms:
            task = asyncio.create_task(_commit_later(pool, conn, tx,
                                                     faults.ack_before_commit_ms / 1000))
            _LATE_COMMITS.add(task)
            task.add_done_callback(_LATE_COMMITS.discard)
        else:
            try:
                await tx.commit()
            finally:
                await pool.release(conn)
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
        if faults is not None and faults.hits_ingest:
            return await _store_with_faults(pool, dets, faults)
        # One statement stores the detections and their stream events atomically, so no
        # explicit BEGIN/COMMIT round trips: the statement's own commit is the ack point.
        async with pool.acquire() as conn:
            return await _store(conn, dets,
                                unchecked=faults is not None and faults.no_idempotency)
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


class GroupCommitter(GroupCommit[Detection, Outcome]):
    """Queue single detections and store them in groups (:class:`GroupCommit`), two
    groups at a time; bounded (429 past `queue_max`)."""

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
        async def write(dets: list[Detection]) -> list[Outcome]:
            return await store_detections(pool, dets, faults)

        super().__init__(write, name="ingest", max_group=max_group, queue_max=queue_max,
                         parallel=parallel, failure=_group_failure, on_group=on_group)


def _group_failure(exc: BaseException) -> BaseException:
    """What every caller of a failed group gets: the database is unavailable (503)."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    log.error("group commit failed", exc_info=exc)
    return DatabaseUnavailable(f"ingest failed: {exc!r}")
