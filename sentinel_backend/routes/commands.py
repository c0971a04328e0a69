"""Node command routes: claim, ack, create (docs/api.md, "Blackout and node commands").

A node claims its due commands (they become ``delivered``); one not acked in time is due
again with exponential backoff, and ``failed`` after the last attempt.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..core import ApiError, core_of, json_response, read_json
from ..validation import MAX_ID, ack_body, command_body, int_param
from ._input import refused_as
from ._records import audit, iso, queue_command, require_nodes

__all__ = ["ack_command", "claim_commands", "create_command", "router"]

router = APIRouter()

_CLAIM = """
WITH expired AS (
    UPDATE node_commands SET status = 'failed'
    WHERE node_id = $1 AND status = 'delivered' AND attempts >= $2 AND next_attempt_at <= now()
    RETURNING id
), due AS (
    SELECT id FROM node_commands
    WHERE node_id = $1 AND status IN ('pending', 'delivered') AND next_attempt_at <= now()
      AND attempts < $2 AND id NOT IN (SELECT id FROM expired)
      AND NOT ($4::boolean AND type = 'blackout_on')
    ORDER BY id LIMIT 100
    FOR UPDATE SKIP LOCKED
)
UPDATE node_commands c SET status = 'delivered', attempts = c.attempts + 1,
    delivered_at = now(),
    next_attempt_at = now() + make_interval(secs => $3 * power(2, c.attempts))
FROM due WHERE c.id = due.id
RETURNING c.id, c.type, c.payload::text AS payload, c.attempts, c.created_at
"""


@router.get("/api/nodes/{node_id}/commands")
async def claim_commands(node_id: str, request: Request) -> Response:
    core = core_of(request)
    await core.node_principal(request, node_id)
    s = core.settings
    async with core.pool.acquire() as conn, conn.transaction():
        # $4: the planted fault SENTINEL_FAULT_BLACKOUT_UNDELIVERED (see faults.py).
        rows = await conn.fetch(_CLAIM, node_id, s.command_max_attempts,
                                s.command_ack_timeout_s, s.faults.blackout_undelivered)
    commands = [{"id": r["id"], "type": r["type"], "payload": orjson.Fragment(r["payload"]),
                 "attempt": r["attempts"], "created_at": iso(r["created_at"])}
                for r in sorted(rows, key=lambda r: r["id"])]
    return json_response({"commands": commands})


@router.post("/api/nodes/{node_id}/commands/{command_id}/ack")
async def ack_command(node_id: str, command_id: str, request: Request) -> Response:
    core = core_of(request)
    who = await core.node_principal(request, node_id)
    with refused_as(400):
        cid = int_param(command_id, "command id", 1, MAX_ID)
    body = await read_json(request, core.settings.max_body_bytes)
    with refused_as(422):
        ack = ack_body(body)
    async with core.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, type, status, payload FROM node_commands "
            "WHERE id = $1 AND node_id = $2 FOR UPDATE", cid, node_id)
        if row is None:
            raise ApiError(404, f"no command {cid} for node {node_id}")
        if row["status"] in ("acked", "failed"):
            return json_response({"id": cid, "status": row["status"]})
        status = "acked" if ack.ok else "failed"
        await conn.execute(
            "UPDATE node_commands SET status = $2, acked_at = now(), result = $3::jsonb "
            "WHERE id = $1", cid, status,
            orjson.dumps(ack.result).decode() if ack.result else None)
        if ack.ok and row["type"] == "blackout_off" and ack.queued is not None:
            # The node's count of detections queued during the blackout, into its log row.
            payload = orjson.loads(row["payload"])
            bid = payload.get("blackout_id") if isinstance(payload, dict) else None
            if isinstance(bid, int):
                await conn.execute(
                    "UPDATE blackout_events SET detections_queued = $2 WHERE id = $1",
                    bid, ack.queued)
        await audit(conn, who.actor, "command.ack", node_id,
                    {"id": cid, "ok": ack.ok, "result": ack.result}, late=core.late_audit)
    return json_response({"id": cid, "status": status})


@router.post("/api/commands", status_code=201)
async def create_command(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "operator")
    body = await read_json(request, core.settings.max_body_bytes)
    with refused_as(422):
        cmd = command_body(body)
    async with core.pool.acquire() as conn, conn.transaction():
        await require_nodes(conn, [cmd.node_id])
        cid = await queue_command(conn, cmd.node_id, cmd.type, cmd.payload, who.actor,
                                  late=core.late_audit)
    return json_response({"id": cid, "node_id": cmd.node_id, "type": cmd.type,
                          "payload": cmd.payload, "status": "pending"}, 201)
