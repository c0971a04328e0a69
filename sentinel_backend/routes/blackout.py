"""Blackout routes: activate, deactivate, list (docs/api.md, "Blackout and node commands").

A change of blackout, in one transaction per request: the log row, the node's status, a
``blackout`` and a ``node_status`` stream event, the command that tells the node, and the
audit row.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..core import core_of, json_response, read_json
from ..stream_events import append_blackout, append_node_status
from ..validation import blackout_body
from ._input import refused_as
from ._records import audit, queue_command, require_nodes

__all__ = ["blackout_activate", "blackout_deactivate", "blackout_list", "router"]

router = APIRouter()

#: A blackout log row as the JSON of docs/api.md (alias ``b``).
_BLACKOUT_JSON = """jsonb_build_object('id', b.id, 'node_id', b.node_id,
    'activated_at', b.activated_at, 'deactivated_at', b.deactivated_at,
    'activated_by', b.activated_by, 'reason', b.reason,
    'detections_queued', b.detections_queued)::text"""

_ACTIVATE = f"""
WITH new AS (
    INSERT INTO blackout_events (node_id, activated_by, reason)
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING *)
SELECT b.id, {_BLACKOUT_JSON} AS js FROM new b
"""

_ACTIVE_ROW = f"""
SELECT {_BLACKOUT_JSON} FROM blackout_events b WHERE node_id = $1 AND deactivated_at IS NULL
"""

_DEACTIVATE = f"""
WITH upd AS (
    UPDATE blackout_events SET deactivated_at = now(), deactivated_by = $2,
        deactivate_reason = $3
    WHERE node_id = $1 AND deactivated_at IS NULL RETURNING *)
SELECT b.id, {_BLACKOUT_JSON} AS js FROM upd b
"""

_SET_NODE = """
UPDATE nodes SET blackout = $2, status = CASE WHEN $2 THEN 'covert'
    WHEN status = 'covert' THEN 'online' ELSE status END
WHERE node_id = $1
"""


async def _blackout_change(request: Request, activate: bool) -> Response:
    core = core_of(request)
    who = await core.principal(request, "operator")
    body = await read_json(request, core.settings.max_body_bytes)
    with refused_as(422):
        change = blackout_body(body, activate=activate)
    reason = change.reason
    rows: list[str] = []
    async with core.pool.acquire() as conn, conn.transaction():
        await require_nodes(conn, change.node_ids)
        for node_id in change.node_ids:
            await conn.execute("SELECT 1 FROM nodes WHERE node_id = $1 FOR UPDATE", node_id)
            if activate:
                row = await conn.fetchrow(_ACTIVATE, node_id, who.actor, reason)
                if row is None:  # already active: answer with the active row
                    rows.append(await conn.fetchval(_ACTIVE_ROW, node_id))
                    continue
                ctype = "blackout_on"
            else:
                row = await conn.fetchrow(_DEACTIVATE, node_id, who.actor, reason)
                if row is None:  # not in blackout: left out of the answer
                    continue
                ctype = "blackout_off"
            rows.append(row["js"])
            await conn.execute(_SET_NODE, node_id, activate)
            await append_blackout(conn, row["js"])
            await append_node_status(conn, node_id)
            await queue_command(conn, node_id, ctype,
                                {"blackout_id": row["id"], "reason": reason}, who.actor,
                                late=core.late_audit)
            await audit(conn, who.actor,
                        "blackout.activate" if activate else "blackout.deactivate",
                        node_id, {"blackout_id": row["id"], "reason": reason},
                        late=core.late_audit)
    return json_response(('{"blackouts":[' + ",".join(rows) + "]}").encode())


@router.post("/api/blackout/activate")
async def blackout_activate(request: Request) -> Response:
    return await _blackout_change(request, True)


@router.post("/api/blackout/deactivate")
async def blackout_deactivate(request: Request) -> Response:
    return await _blackout_change(request, False)


@router.get("/api/blackout")
async def blackout_list(request: Request) -> Response:
    core = core_of(request)
    await core.principal(request, "viewer", "operator")
    active = await core.pool.fetch(
        f"SELECT {_BLACKOUT_JSON} AS js FROM blackout_events b WHERE deactivated_at IS NULL "
        "ORDER BY id DESC")
    log = await core.pool.fetch(
        f"SELECT {_BLACKOUT_JSON} AS js FROM blackout_events b ORDER BY id DESC LIMIT 1000")
    body = ('{"active":[' + ",".join(r["js"] for r in active) + '],"log":['
            + ",".join(r["js"] for r in log) + "]}")
    return json_response(body.encode())
