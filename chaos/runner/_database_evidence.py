"""What the database itself says about a run: the stored rows with the real commit time of
their transaction, the stream of the run's window, the blackout log, the audit rows of the
run's targets, and whether the audit table refuses to be rewritten.

Read once, after the fleet closed, on one connection. Nothing here trusts a counter the
backend keeps about itself: every figure is a row (docs/api.md names the tables' meaning;
the schema is ``sentinel_backend/migrations``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chaos.verdict.evidence import AuditRow, StoredDetection, StreamEvent
from simulator.protocol import stored_content_hash

__all__ = ["DatabaseEvidence", "database_evidence", "stream_head"]

MEASURED = "measured"
#: The audit table statements that must be refused; each is tried in a transaction of its
#: own that is rolled back, so a table that accepts one loses nothing.
_REWRITES = {
    "UPDATE": "UPDATE audit_log SET actor = actor WHERE id = (SELECT max(id) FROM audit_log)",
    "DELETE": "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
    "TRUNCATE": "TRUNCATE audit_log",
}


@dataclass
class DatabaseEvidence:
    """``blackout_queued``: blackout log row id -> ``detections_queued`` (``None``: unset)."""

    stored: list[StoredDetection]
    commit_times: str
    stream_events: list[StreamEvent]
    blackout_queued: dict[int, int | None] = field(default_factory=dict)
    audit_rows: list[AuditRow] = field(default_factory=list)
    audit_append_only: dict[str, bool | None] = field(default_factory=dict)


async def stream_head(database_url: str) -> int:
    """The highest stamped stream seq now (0 for an empty stream)."""
    import asyncpg

    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        head = await conn.fetchval(
            "SELECT coalesce(max(seq), 0) FROM stream_events WHERE seq IS NOT NULL")
    finally:
        await conn.close()
    return int(head)


_STORED = """
SELECT d.node_id, d.seq, d.payload::text AS payload,
       extract(epoch FROM d.committed_at)::float8 AS committed,
       {commit_ts} AS commit_ts, e.seq AS stream_seq
FROM detections d LEFT JOIN stream_events e ON e.id = d.stream_event_id
WHERE d.node_id = ANY($1::text[])
"""

_STREAM = """
SELECT e.seq, e.type, coalesce(d.node_id, e.data->>'node_id') AS node_id, d.seq AS node_seq
FROM stream_events e LEFT JOIN detections d ON d.id = e.detection_id
WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq
"""

_AUDIT = """
SELECT id, actor, action, target, extract(epoch FROM at)::float8 AS at
FROM audit_log WHERE target = ANY($1::text[]) ORDER BY id
"""


async def database_evidence(database_url: str, node_ids: Sequence[str], *, since: int,
                            upto: int | None) -> DatabaseEvidence:
    """Everything above for ``node_ids``; the stream from after ``since`` (the head when
    the run started) up to ``upto`` (the head the dashboards drained to; ``None``: the
    head now)."""
    import asyncpg

    ids = list(node_ids)
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        tracked = str(await conn.fetchval("SHOW track_commit_timestamp")) == "on"
        commit_ts = ("extract(epoch FROM pg_xact_commit_timestamp(d.xmin))::float8"
                     if tracked else "NULL::float8")
        rows = await conn.fetch(_STORED.format(commit_ts=commit_ts), ids)
        stored = [_stored(r) for r in rows]
        commit_times = _commit_times(tracked, stored)
        if upto is None:
            upto = int(await conn.fetchval(
                "SELECT coalesce(max(seq), 0) FROM stream_events WHERE seq IS NOT NULL"))
        stream = [StreamEvent(stream_seq=int(r["seq"]), type=str(r["type"]),
                              node_id=r["node_id"],
                              seq=None if r["node_seq"] is None else int(r["node_seq"]))
                  for r in await conn.fetch(_STREAM, since, upto)]
        queued = {int(r["id"]): r["detections_queued"] for r in await conn.fetch(
            "SELECT id, detections_queued FROM blackout_events WHERE node_id = ANY($1::text[])",
            ids)}
        audit = [AuditRow(id=int(r["id"]), actor=str(r["actor"]), action=str(r["action"]),
                          target=r["target"], at=float(r["at"]))
                 for r in await conn.fetch(_AUDIT, ids)]
        append_only = await _audit_refuses_rewrites(conn, has_rows=bool(audit))
    finally:
        await conn.close()
    return DatabaseEvidence(stored=stored, commit_times=commit_times, stream_events=stream,
                            blackout_queued=queued, audit_rows=audit,
                            audit_append_only=append_only)


def _stored(r: Mapping[str, Any]) -> StoredDetection:
    return StoredDetection(
        node_id=r["node_id"], seq=int(r["seq"]),
        content_hash=stored_content_hash(orjson.loads(r["payload"])),
        committed_at=float(r["committed"]),
        commit_ts=None if r["commit_ts"] is None else float(r["commit_ts"]),
        stream_seq=None if r["stream_seq"] is None else int(r["stream_seq"]))


def _commit_times(tracked: bool, stored: Sequence[StoredDetection]) -> str:
    if not tracked:
        return "track_commit_timestamp is off in the database"
    unknown = sum(1 for s in stored if s.commit_ts is None)
    if unknown:
        return (f"{unknown} of {len(stored)} stored rows have no commit timestamp (committed "
                "before track_commit_timestamp was on)")
    return MEASURED


async def _audit_refuses_rewrites(conn: Any, *, has_rows: bool) -> dict[str, bool | None]:
    """For each rewrite, True when the database refused it. UPDATE and DELETE are row
    triggers, so with no row to touch they prove nothing: ``None`` (not tried)."""
    import asyncpg

    out: dict[str, bool | None] = {}
    for op, sql in _REWRITES.items():
        if op != "TRUNCATE" and not has_rows:
            out[op] = None
            continue
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(sql)
            out[op] = False
        except asyncpg.PostgresError:
            out[op] = True
        finally:
            await tx.rollback()
    return out
