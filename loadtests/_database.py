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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from chaos.runner import _database_reads as reads
from chaos.runner._database_reads import MEASURED
from chaos.verdict import AuditRow, StoredDetection, StreamEvent

__all__ = ["MEASURED", "read_audit_rows", "read_stored", "read_stream_window"]

CONNECT_TIMEOUT_S = 10.0
T = TypeVar("T")


async def _on_connection(database_url: str, read: Callable[[Any], Awaitable[T]]) -> T:
    conn = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT_S)
    try:
        return await read(conn)
    finally:
        await conn.close()


def read_stored(database_url: str, node_ids: Sequence[str]
                ) -> tuple[list[StoredDetection], str]:
    """Every stored row of these nodes with its real commit time, and ``commit_times``."""
    return asyncio.run(_on_connection(database_url, lambda c: reads.read_stored(c, node_ids)))


def read_stream_window(database_url: str, since: int, upto: int) -> list[StreamEvent]:
    """The database's stream events with ``since < seq <= upto``, of every type."""
    return asyncio.run(_on_connection(
        database_url, lambda c: reads.read_stream_window(c, since, upto)))


def read_audit_rows(database_url: str, targets: Sequence[str]) -> list[AuditRow]:
    """The audit rows whose target is one of ``targets`` (the run's node ids)."""
    return asyncio.run(_on_connection(database_url, lambda c: reads.read_audit_rows(c, targets)))
