"""The runtime side of the planted faults of :mod:`.faults` (self-tests only): the schema
changes some of them need at startup, the late audit writer and the fan-out rewriter.

Nothing here runs unless its fault is on; the clean backend never calls into this module
except for :func:`prepare_database`, which then undoes what a faulty run left behind where
that can be undone (the audit-dropping trigger).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import orjson

from .faults import PlantedFaults

__all__ = ["FanoutRewriter", "LateAudit", "prepare_database"]

log = logging.getLogger("sentinel_backend.faults")

#: How far ahead of the real seq of its node a phantom detection claims to be.
PHANTOM_SEQ_AHEAD = 1_000_000_000
#: How long a graceful stop waits for late audit rows still sleeping.
LATE_AUDIT_STOP_S = 5.0

_AUDIT_DROP_FUNCTION = """
CREATE OR REPLACE FUNCTION sentinel_fault_audit_drop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id % {one_in} = 0 THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$
"""
_AUDIT_DROP_TRIGGER = """
CREATE TRIGGER sentinel_fault_audit_drop BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sentinel_fault_audit_drop()
"""
_AUDIT_DROP_REMOVE = "DROP TRIGGER IF EXISTS sentinel_fault_audit_drop ON audit_log"
_IDENTITY_DROP = "ALTER TABLE detections DROP CONSTRAINT IF EXISTS detections_identity"
_AUDIT_INSERT = ("INSERT INTO audit_log (actor, action, target, details) "
                 "VALUES ($1, $2, $3, $4::jsonb)")


async def prepare_database(conn: asyncpg.Connection, faults: PlantedFaults) -> None:
    """Schema changes of the planted faults that live in the database, after migrations."""
    async with conn.transaction():
        await conn.execute(_AUDIT_DROP_REMOVE)
        if faults.audit_drop_one_in:
            await conn.execute(_AUDIT_DROP_FUNCTION.format(one_in=int(faults.audit_drop_one_in)))
            await conn.execute(_AUDIT_DROP_TRIGGER)
        if faults.no_idempotency:
            await conn.execute(_IDENTITY_DROP)


class LateAudit:
    """Writes audit rows in a transaction of their own, ``delay_s`` after the change
    (``SENTINEL_FAULT_AUDIT_SEPARATE_TX``): a backend killed meanwhile never writes them."""

    def __init__(self, pool: asyncpg.Pool, delay_s: float) -> None:
        self._pool = pool
        self._delay_s = delay_s
        self._tasks: set[asyncio.Task[None]] = set()

    def write(self, actor: str, action: str, target: str | None,
              details: dict[str, Any] | None) -> None:
        task = asyncio.create_task(self._write(actor, action, target,
                                               orjson.dumps(details or {}).decode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, actor: str, action: str, target: str | None, details: str) -> None:
        await asyncio.sleep(self._delay_s)
        try:
            await self._pool.execute(_AUDIT_INSERT, actor, action, target, details)
        except Exception as exc:
            log.warning("late audit row of %s %s lost: %s", action, target, exc)

    async def stop(self) -> None:
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=LATE_AUDIT_STOP_S)
            for task in late:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*late, return_exceptions=True)


class FanoutRewriter:
    """Changes the live stream on its way to clients (``SENTINEL_FAULT_STREAM_ALTER_ONE_IN``,
    ``SENTINEL_FAULT_PHANTOM_ONE_IN``); events are ``(stream seq, event JSON)``."""

    def __init__(self, faults: PlantedFaults) -> None:
        self._faults = faults

    def __call__(self, events: list[tuple[int, str]]) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        phantom: str | None = None
        for seq, js in events:
            event = orjson.loads(js)
            data = event.get("data")
            if event.get("type") != "detection" or not isinstance(data, dict):
                out.append((seq, js))
                continue
            node_id, node_seq = str(data.get("node_id")), int(data.get("seq") or 0)
            if self._faults.alters(node_id, node_seq):
                event["data"] = _altered(data)
                js = orjson.dumps(event).decode()
            if phantom is None and self._faults.phantom_after(node_id, node_seq):
                phantom = orjson.dumps(_phantom(event, events[-1][0] + 1)).decode()
            out.append((seq, js))
        if phantom is not None:
            out.append((events[-1][0] + 1, phantom))
        return out


def _altered(data: dict[str, Any]) -> dict[str, Any]:
    """The same detection with another first label and confidence, or, with no object
    detected, another inference time: fields the content hash covers."""
    changed = dict(data)
    objects = [dict(o) if isinstance(o, dict) else o for o in data.get("detections") or []]
    if objects and isinstance(objects[0], dict):
        objects[0]["label"] = f"{objects[0].get('label', '')}-altered"
        objects[0]["confidence"] = 0.01
        changed["detections"] = objects
    else:
        changed["inference_time_ms"] = float(data.get("inference_time_ms") or 0) + 1.5
    return changed


def _phantom(event: dict[str, Any], stream_seq: int) -> dict[str, Any]:
    """A detection event of the same node, far ahead in its seqs, never stored."""
    data = dict(event["data"])
    data["seq"] = int(data.get("seq") or 0) + PHANTOM_SEQ_AHEAD
    data["id"] = 0
    return {**event, "seq": stream_seq, "data": data}
