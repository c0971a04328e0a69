"""What the database itself says about a Locust run, when the gate may read it
(``--database-url``): the stored rows with the real commit time of their transaction, the
stream of the run's window and the audit rows of the run's nodes.

The gate runs in a gevent-patched process: asyncpg runs on a private asyncio loop
(``asyncio.run``) whose selector gevent made cooperative, so a read blocks only the
calling greenlet. Each read is one connection, opened and closed here. The append-only
probe of the audit table (UPDATE/DELETE/TRUNCATE, each rolled back) is not done here: it
is a destructive statement against a shared database, left to ``sentinel-chaos run``;
the Locust gate's ``audit_append_only`` stays "not tried".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from chaos.verdict import AuditRow, StoredDetection, StreamEvent
from simulator.protocol import stored_content_hash

__all__ = ["MEASURED", "read_audit_rows", "read_stored", "read_stream_window"]

MEASURED = "measured"
CONNECT_TIMEOUT_S = 10.0

_STORED = """
SELECT d.node_id, d.seq, d.payload::text AS payload,
       extract(epoch FROM d.committed_at)::float8 AS committed,
       {commit_ts} AS commit_ts, e.seq AS stream_seq
FROM detections d LEFT JOIN stream_events e ON e.id = d.stream_event_id
WHERE d.node_id = ANY($1::text[])
"""
_COMMIT_TS = "extract(epoch FROM pg_xact_commit_timestamp(d.xmin))::float8"

_STREAM = """
SELECT e.seq, e.type, coalesce(d.node_id, e.data->>'node_id') AS node_id, d.seq AS node_seq
FROM stream_events e LEFT JOIN detections d ON d.id = e.detection_id
WHERE e.seq > $1 AND e.seq <= $2 ORDER BY e.seq
"""

_AUDIT = """
SELECT id, actor, action, target, extract(epoch FROM at)::float8 AS at
FROM audit_log WHERE target = ANY($1::text[]) ORDER BY id
"""


async def _fetch(database_url: str, sql: str, *args: Any) -> tuple[list[Any], bool]:
    """The rows of ``sql`` (formatted with ``commit_ts``), and whether
    ``track_commit_timestamp`` is on."""
    conn = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT_S)
    try:
        tracked = str(await conn.fetchval("SHOW track_commit_timestamp")) == "on"
        query = sql.format(commit_ts=_COMMIT_TS if tracked else "NULL::float8")
        return list(await conn.fetch(query, *args)), tracked
    finally:
        await conn.close()


def read_stored(database_url: str, node_ids: Sequence[str]
                ) -> tuple[list[StoredDetection], str]:
    """Every stored row of these nodes (two rows of one identity = stored twice) with its
    real commit time, and ``commit_times``: ``"measured"`` or why not."""
    rows, tracked = asyncio.run(_fetch(database_url, _STORED, list(node_ids)))
    stored = [_stored(r) for r in rows]
    return stored, commit_times(tracked, stored)


def commit_times(tracked: bool, stored: Sequence[StoredDetection]) -> str:
    """``"measured"`` when every row has its commit time; else the reason it is not."""
    if not tracked:
        return "track_commit_timestamp is off in the database"
    unknown = sum(1 for s in stored if s.commit_ts is None)
    if unknown:
        return (f"{unknown} of {len(stored)} stored rows have no commit timestamp "
                "(committed before track_commit_timestamp was on)")
    return MEASURED


def read_stream_window(database_url: str, since: int, upto: int) -> list[StreamEvent]:
    """The database's stream events with ``since < seq <= upto``, of every type."""
    rows, _ = asyncio.run(_fetch(database_url, _STREAM, since, upto))
    return [StreamEvent(stream_seq=int(r["seq"]), type=str(r["type"]), node_id=r["node_id"],
                        seq=None if r["node_seq"] is None else int(r["node_seq"]))
            for r in rows]


def read_audit_rows(database_url: str, targets: Sequence[str]) -> list[AuditRow]:
    """The audit rows whose target is one of ``targets`` (the run's node ids)."""
    rows, _ = asyncio.run(_fetch(database_url, _AUDIT, list(targets)))
    return [AuditRow(id=int(r["id"]), actor=str(r["actor"]), action=str(r["action"]),
                     target=r["target"], at=float(r["at"])) for r in rows]


def _stored(r: Mapping[str, Any]) -> StoredDetection:
    return StoredDetection(
        node_id=str(r["node_id"]), seq=int(r["seq"]),
        content_hash=stored_content_hash(orjson.loads(r["payload"])),
        committed_at=float(r["committed"]),
        commit_ts=None if r["commit_ts"] is None else float(r["commit_ts"]),
        stream_seq=None if r["stream_seq"] is None else int(r["stream_seq"]))
