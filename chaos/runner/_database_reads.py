"""The reads of the database every judge's evidence needs, on a connection the caller owns:
the stored rows with the real commit time of their transaction, the stream of a window and
the audit rows of some targets. The fleet runner (``_database_evidence``) and the Locust
gate (``loadtests/_database.py``) both read through these, so the two kinds of run are
judged on the same rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from chaos.verdict.evidence import AuditRow, StoredDetection, StreamEvent
from simulator.protocol import stored_content_hash

__all__ = ["MEASURED", "read_audit_rows", "read_stored", "read_stream_head",
           "read_stream_window"]

MEASURED = "measured"

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


async def read_stored(conn: Any, node_ids: Sequence[str]
                      ) -> tuple[list[StoredDetection], str]:
    """Every stored row of these nodes (two rows of one identity = stored twice) with its
    real commit time, and ``commit_times``: ``"measured"`` or why not."""
    tracked = str(await conn.fetchval("SHOW track_commit_timestamp")) == "on"
    query = _STORED.format(commit_ts=_COMMIT_TS if tracked else "NULL::float8")
    stored = [_stored(r) for r in await conn.fetch(query, list(node_ids))]
    return stored, _commit_times(tracked, stored)


async def read_stream_head(conn: Any) -> int:
    """The highest stamped stream seq now (0 for an empty stream)."""
    return int(await conn.fetchval(
        "SELECT coalesce(max(seq), 0) FROM stream_events WHERE seq IS NOT NULL"))


async def read_stream_window(conn: Any, since: int, upto: int) -> list[StreamEvent]:
    """The database's stream events with ``since < seq <= upto``, of every type."""
    return [StreamEvent(stream_seq=int(r["seq"]), type=str(r["type"]), node_id=r["node_id"],
                        seq=None if r["node_seq"] is None else int(r["node_seq"]))
            for r in await conn.fetch(_STREAM, since, upto)]


async def read_audit_rows(conn: Any, targets: Sequence[str]) -> list[AuditRow]:
    """The audit rows whose target is one of ``targets`` (the run's node ids)."""
    return [AuditRow(id=int(r["id"]), actor=str(r["actor"]), action=str(r["action"]),
                     target=r["target"], at=float(r["at"]))
            for r in await conn.fetch(_AUDIT, list(targets))]


def _stored(r: Mapping[str, Any]) -> StoredDetection:
    return StoredDetection(
        node_id=str(r["node_id"]), seq=int(r["seq"]),
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
