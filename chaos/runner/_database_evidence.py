"""What the database itself says about a run: the stored rows with the real commit time of
their transaction, the stream of the run's window, the blackout log, the audit rows of the
run's targets, and whether the audit table refuses to be rewritten.

Read once, after the fleet closed, on one connection. Nothing here trusts a counter the
backend keeps about itself: every figure is a row (docs/api.md names the tables' meaning;
the schema is ``sentinel_backend/migrations``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.runner._database_reads import (
    read_audit_rows,
    read_stored,
    read_stream_head,
    read_stream_window,
)
from chaos.verdict.evidence import AuditRow, StoredDetection, StreamEvent

__all__ = ["DatabaseEvidence", "database_evidence", "stream_head"]

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
        return await read_stream_head(conn)
    finally:
        await conn.close()


async def database_evidence(database_url: str, node_ids: Sequence[str], *, since: int,
                            upto: int | None) -> DatabaseEvidence:
    """Everything above for ``node_ids``; the stream from after ``since`` (the head when
    the run started) up to ``upto`` (the head the dashboards drained to; ``None``: the
    head now)."""
    import asyncpg

    ids = list(node_ids)
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        stored, commit_times = await read_stored(conn, ids)
        if upto is None:
            upto = await read_stream_head(conn)
        stream = await read_stream_window(conn, since, upto)
        queued = {int(r["id"]): r["detections_queued"] for r in await conn.fetch(
            "SELECT id, detections_queued FROM blackout_events WHERE node_id = ANY($1::text[])",
            ids)}
        audit = await read_audit_rows(conn, ids)
        append_only = await _audit_refuses_rewrites(conn, has_rows=bool(audit))
    finally:
        await conn.close()
    return DatabaseEvidence(stored=stored, commit_times=commit_times, stream_events=stream,
                            blackout_queued=queued, audit_rows=audit,
                            audit_append_only=append_only)


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
