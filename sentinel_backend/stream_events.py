"""The rows of ``stream_events``: every write of a stream event is built here.

An event is written in the transaction (most often the very statement) that makes the
change it reports, so that the stream can never show a change that was rolled back nor
miss one that was committed; the sequencer stamps its seq after COMMIT (:mod:`.stream`).
Statements that write many rows at once (group commit, the offline sweep) embed the SQL
below as a CTE; routes that change one row call the coroutines. Event shapes are those of
docs/api.md ("The stream").
"""

from __future__ import annotations

from typing import Final

import asyncpg

__all__ = [
    "EVENT_BLACKOUT",
    "EVENT_DETECTION",
    "EVENT_NODE_STATUS",
    "EVENT_TYPES",
    "append_blackout",
    "append_node_status",
    "insert_detection_events",
    "insert_node_status_events",
    "node_status_data",
]

#: ``data`` is the stored detection (with ``id``), read from its row when sent.
EVENT_DETECTION: Final = "detection"
#: ``data`` is ``{"node_id", "status", "last_heartbeat", "blackout"}``.
EVENT_NODE_STATUS: Final = "node_status"
#: ``data`` is the blackout log row.
EVENT_BLACKOUT: Final = "blackout"
EVENT_TYPES: Final = frozenset({EVENT_DETECTION, EVENT_NODE_STATUS, EVENT_BLACKOUT})


def node_status_data(row: str = "") -> str:
    """SQL: the ``node_status`` event data, from the node columns of `row` (a table or CTE
    alias; unqualified columns when empty). The only definition of that shape."""
    p = f"{row}." if row else ""
    return (f"jsonb_build_object('node_id', {p}node_id, 'status', {p}status, "
            f"'last_heartbeat', {p}last_heartbeat, 'blackout', {p}blackout)")


def insert_node_status_events(source: str) -> str:
    """SQL: one ``node_status`` event per row of `source` (what follows ``FROM``: a
    relation with the node columns, optionally with WHERE / ORDER BY)."""
    return (f"INSERT INTO stream_events (type, data) "
            f"SELECT '{EVENT_NODE_STATUS}', {node_status_data()} FROM {source}")


def insert_detection_events(source: str) -> str:
    """SQL: one ``detection`` event per row of `source` (a CTE of inserted detections with
    ``id`` and the ``stream_event_id`` reserved for it). The event holds no copy of the
    payload: it links to the detection row."""
    return (f"INSERT INTO stream_events (id, type, detection_id) "
            f"SELECT stream_event_id, '{EVENT_DETECTION}', id FROM {source}")


_ONE_NODE_STATUS: Final = insert_node_status_events("nodes WHERE node_id = $1")
_ONE_BLACKOUT: Final = (
    f"INSERT INTO stream_events (type, data) VALUES ('{EVENT_BLACKOUT}', $1::jsonb)")


async def append_node_status(conn: asyncpg.Connection, node_id: str) -> None:
    """Write the ``node_status`` event of `node_id` as its row is now (in `conn`'s
    transaction, after the change it reports)."""
    await conn.execute(_ONE_NODE_STATUS, node_id)


async def append_blackout(conn: asyncpg.Connection, blackout_json: str) -> None:
    """Write a ``blackout`` event whose data is `blackout_json` (the log row as JSON)."""
    await conn.execute(_ONE_BLACKOUT, blackout_json)
