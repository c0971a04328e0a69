"""Node routes: register, heartbeat, list, status (docs/api.md, "Nodes").

Registrations and heartbeats are group-committed (:mod:`..nodewrite`); the routes validate,
queue and answer after the commit.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..auth import hash_token, new_token
from ..core import ApiError, core_of, json_response, read_json
from ..nodewrite import Beat, Registration, location_json
from ..validation import heartbeat_body, registration_body
from ._input import refused_as
from ._records import iso

__all__ = ["heartbeat", "heartbeat_route", "list_nodes", "node_status", "register", "router"]

router = APIRouter()


@router.post("/api/nodes/register", status_code=201)
async def register(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "enrollment")
    body = await read_json(request, core.settings.max_body_bytes)
    with refused_as(422):
        reg = registration_body(body)
    token = new_token("node_")
    res = await core.registrar.submit(Registration(
        reg.node_id, reg.name, reg.model, location_json(reg.location), hash_token(token),
        who.actor))
    if res is None:  # cannot happen: the upsert returns every row it wrote
        raise ApiError(503, "registration not stored; retry", {"Retry-After": "1"})
    core.tokens.forget_node(reg.node_id)
    return json_response({"node_id": reg.node_id, "token": token, "status": res.status},
                         201 if res.created else 200)


@router.post("/api/nodes/{node_id}/heartbeat")
async def heartbeat(node_id: str, request: Request) -> Response:
    core = core_of(request)
    who = await core.node_principal(request, node_id)
    body = await read_json(request, core.settings.max_body_bytes)
    with refused_as(422):
        beat = heartbeat_body(body)
    res = await core.beats.submit(Beat(node_id, beat.outbox_depth, who.actor))
    if res is None:
        raise ApiError(404, f"unknown node {node_id}")
    return json_response({
        "node_id": node_id, "status": res.status, "blackout": res.blackout,
        "pending_commands": res.pending,
        "server_time": core.settings.faults.server_now().isoformat(),
    })


async def heartbeat_route(request: Request) -> Response:
    """`heartbeat` as a plain Starlette endpoint (the hot routes of create_app)."""
    return await heartbeat(request.path_params["node_id"], request)


_NODE_COLUMNS = "node_id, status, last_heartbeat, blackout, registered_at"


def _node_json(row: asyncpg.Record, full: bool) -> dict[str, Any]:
    out = {"node_id": row["node_id"], "status": row["status"],
           "last_heartbeat": iso(row["last_heartbeat"]), "blackout": row["blackout"]}
    if full:
        out["registered_at"] = iso(row["registered_at"])
    return out


@router.get("/api/nodes")
async def list_nodes(request: Request) -> Response:
    core = core_of(request)
    await core.principal(request, "viewer", "operator")
    rows = await core.pool.fetch(f"SELECT {_NODE_COLUMNS} FROM nodes ORDER BY node_id")
    return json_response({"nodes": [_node_json(r, False) for r in rows]})


@router.get("/api/nodes/{node_id}/status")
async def node_status(node_id: str, request: Request) -> Response:
    core = core_of(request)
    await core.node_principal(request, node_id, "viewer", "operator")
    row = await core.pool.fetchrow(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE node_id = $1",
                                   node_id)
    if row is None:
        raise ApiError(404, f"unknown node {node_id}")
    return json_response(_node_json(row, True))
