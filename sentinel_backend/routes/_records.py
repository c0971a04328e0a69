"""Writes and reads several route families share: the audit log, queued node commands,
the check that nodes exist, and timestamps as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import orjson

from .._planted import LateAudit
from ..core import ApiError

__all__ = ["audit", "iso", "queue_command", "require_nodes"]


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def audit(conn: asyncpg.Connection, actor: str, action: str, target: str | None,
                details: dict[str, Any] | None = None, *, late: LateAudit | None = None
                ) -> None:
    """One audit row, in `conn`'s transaction (so it exists exactly when the change does).
    ``late``: the planted fault SENTINEL_FAULT_AUDIT_SEPARATE_TX (``Core.late_audit``),
    which writes it apart, later."""
    if late is not None:
        late.write(actor, action, target, details)
        return
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)",
        actor, action, target, orjson.dumps(details or {}).decode(),
    )


async def require_nodes(conn: asyncpg.Connection, node_ids: list[str]) -> None:
    """404 naming the unknown ones unless every node of `node_ids` is registered."""
    known = {r["node_id"] for r in await conn.fetch(
        "SELECT node_id FROM nodes WHERE node_id = ANY($1::text[])", node_ids)}
    unknown = [n for n in node_ids if n not in known]
    if unknown:
        raise ApiError(404, f"unknown node(s): {', '.join(unknown[:20])} (nothing changed)")


async def queue_command(conn: asyncpg.Connection, node_id: str, ctype: str,
                        payload: dict[str, Any], actor: str, *,
                        late: LateAudit | None = None) -> int:
    """Queue a `ctype` command for `node_id` (claimed by the node when due); its id."""
    cid: int = await conn.fetchval(
        "INSERT INTO node_commands (node_id, type, payload, created_by) "
        "VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
        node_id, ctype, orjson.dumps(payload).decode(), actor)
    await audit(conn, actor, "command.create", node_id, {"id": cid, "type": ctype}, late=late)
    return cid
