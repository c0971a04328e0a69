"""The HTTP routes of docs/api.md (nodes, detections, blackout, commands)."""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from .auth import hash_token, new_token
from .core import ApiError, core_of, json_response, read_json, read_json_raw
from .db import Overloaded
from .ingest import Outcome, store_detections
from .nodewrite import Beat, Registration, location_json
from .validation import (
    Detection,
    Invalid,
    check_clean,
    check_node_id,
    may_hold_nul,
    parse_time,
    validate_detection,
)

__all__ = ["router"]

router = APIRouter()

COMMAND_TYPE_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_BATCH = 1000


def _obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object")
    try:
        check_clean(body, "body")
    except Invalid as exc:
        raise ApiError(422, str(exc)) from None
    return body


def _opt_str(body: dict[str, Any], name: str, max_len: int = 256) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise ApiError(422, f"{name} must be a string of at most {max_len} characters")
    return value


def _node_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("node_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
        raise ApiError(422, "node_ids must be a list of 1..1000 node ids")
    try:
        return list(dict.fromkeys(check_node_id(i, "node_ids[]") for i in ids))
    except Invalid as exc:
        raise ApiError(422, str(exc)) from None


async def _audit(conn: asyncpg.Connection, actor: str, action: str, target: str | None,
                 details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)",
        actor, action, target, orjson.dumps(details or {}).decode(),
    )


async def _status_event(conn: asyncpg.Connection, node_id: str) -> None:
    await conn.execute(
        "INSERT INTO stream_events (type, data) SELECT 'node_status', jsonb_build_object("
        "'node_id', node_id, 'status', status, 'last_heartbeat', last_heartbeat, "
        "'blackout', blackout) FROM nodes WHERE node_id = $1", node_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---------------------------------------------------------------- nodes
@router.post("/api/nodes/register", status_code=201)
async def register(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "enrollment")
    body = _obj(await read_json(request, core.settings.max_body_bytes))
    try:
        node_id = check_node_id(body.get("node_id"))
    except Invalid as exc:
        raise ApiError(422, str(exc)) from None
    name = _opt_str(body, "name")
    model = _opt_str(body, "model")
    location = body.get("location")
    if location is not None:
        if not isinstance(location, dict):
            raise ApiError(422, "location must be an object")
        for key, lo, hi in (("latitude", -90, 90), ("longitude", -180, 180)):
            value = location.get(key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                lo <= value <= hi
            ):
                raise ApiError(422, f"location.{key} must be a number in [{lo}, {hi}]")
    token = new_token("node_")
    res = await core.registrar.submit(Registration(
        node_id, name, model, location_json(location), hash_token(token), who.actor))
    if res is None:  # cannot happen: the upsert returns every row it wrote
        raise ApiError(503, "registration not stored; retry", {"Retry-After": "1"})
    core.tokens.forget_node(node_id)
    return json_response({"node_id": node_id, "token": token, "status": res.status},
                         201 if res.created else 200)


@router.post("/api/nodes/{node_id}/heartbeat")
async def heartbeat(node_id: str, request: Request) -> Response:
    core = core_of(request)
    who = await core.node_principal(request, node_id)
    body = _obj(await read_json(request, core.settings.max_body_bytes))
    reported = body.get("status", "online")
    if reported not in ("online", "covert"):
        raise ApiError(422, "status must be 'online' or 'covert'")
    depth = body.get("outbox_depth")
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)
                              or not 0 <= depth < 2**31):
        raise ApiError(422, "outbox_depth must be a non-negative integer")
    res = await core.beats.submit(Beat(node_id, depth, who.actor))
    if res is None:
        raise ApiError(404, f"unknown node {node_id}")
    return json_response({
        "node_id": node_id, "status": res.status, "blackout": res.blackout,
        "pending_commands": res.pending, "server_time": datetime.now(UTC).isoformat(),
    })


async def heartbeat_route(request: Request) -> Response:
    """`heartbeat` as a plain Starlette endpoint (see create_app)."""
    return await heartbeat(request.path_params["node_id"], request)


_NODE_COLUMNS = "node_id, status, last_heartbeat, blackout, registered_at"


def _node_json(row: asyncpg.Record, full: bool) -> dict[str, Any]:
    out = {"node_id": row["node_id"], "status": row["status"],
           "last_heartbeat": _iso(row["last_heartbeat"]), "blackout": row["blackout"]}
    if full:
        out["registered_at"] = _iso(row["registered_at"])
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


# ---------------------------------------------------------------- detections
def _outcome_json(det: Detection, out: Outcome) -> dict[str, Any]:
    return {"id": out.id, "node_id": det.node_id, "seq": det.seq,
            "duplicate": out.status == 200}


@router.post("/api/detections", status_code=201)
async def post_detection(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "node")
    body, raw = await read_json_raw(request, core.settings.max_body_bytes)
    try:
        det = validate_detection(body, deep_check=may_hold_nul(raw))
    except Invalid as exc:
        raise ApiError(422, str(exc)) from None
    if det.node_id != who.node_id:
        raise ApiError(403, f"this node token belongs to {who.node_id}, not {det.node_id}")
    started = request.scope.get("sentinel.t0")
    out = await core.committer.submit(det)
    m = core.metrics
    if out.status == 201:
        m.outcome["created"].inc()
        if isinstance(started, float):
            m.ingest_latency.observe(time.perf_counter() - started)
        return json_response(_outcome_json(det, out), 201)
    if out.status == 200:
        m.outcome["duplicate"].inc()
        return json_response(_outcome_json(det, out), 200)
    if out.status == 409:
        m.outcome["conflict"].inc()
        raise ApiError(409, out.detail or "conflict", id=out.id)
    m.outcome["rejected"].inc()
    raise ApiError(422, out.detail or "refused")


@router.post("/api/detections/batch")
async def post_batch(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "node")
    body, raw = await read_json_raw(request, core.settings.max_body_bytes)
    deep = may_hold_nul(raw)
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ApiError(422, 'body must be {"items": [detection, ...]}')
    items: list[Any] = body["items"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise ApiError(422, f"items must hold 1..{MAX_BATCH} detections, not {len(items)}")
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, Detection]] = []
    for index, item in enumerate(items):
        try:
            det = validate_detection(item, deep_check=deep)
        except Invalid as exc:
            nid = item.get("node_id") if isinstance(item, dict) else None
            sq = item.get("seq") if isinstance(item, dict) else None
            results[index] = {"index": index, "node_id": nid if isinstance(nid, str) else None,
                              "seq": sq if isinstance(sq, int) else None,
                              "status": 422, "detail": str(exc)}
            continue
        if det.node_id != who.node_id:
            raise ApiError(403, f"items[{index}].node_id is {det.node_id}; this node token "
                                f"belongs to {who.node_id} (nothing was stored)")
        valid.append((index, det))
    state = request.app.state
    if state.batch_inflight >= core.settings.batch_concurrency * 4:
        raise Overloaded("too many batches in flight")
    state.batch_inflight += 1
    try:
        async with state.batch_slots:
            outcomes = await store_detections(core.pool, [d for _, d in valid],
                                              core.settings.faults)
    finally:
        state.batch_inflight -= 1
    counts = {201: 0, 200: 0, 409: 0, 422: len(items) - len(valid)}
    for (index, det), out in zip(valid, outcomes, strict=True):
        counts[out.status] += 1
        entry: dict[str, Any] = {"index": index, "node_id": det.node_id, "seq": det.seq,
                                 "status": out.status, "id": out.id}
        if out.status in (200, 201):
            entry["duplicate"] = out.status == 200
        if out.detail:
            entry["detail"] = out.detail
        results[index] = entry
    m = core.metrics
    m.outcome["created"].inc(counts[201])
    m.outcome["duplicate"].inc(counts[200])
    m.outcome["conflict"].inc(counts[409])
    m.outcome["rejected"].inc(counts[422])
    return json_response({"results": results, "created": counts[201],
                          "duplicates": counts[200], "conflicts": counts[409],
                          "rejected": counts[422]})


def _encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id":
            raise ValueError(kind)
        last = int(value)
        if not 0 <= last < 2**63:
            raise ValueError(value)
        return last
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "cursor is not one this server issued") from None


def _int_param(raw: str | None, name: str, lo: int, hi: int, default: int | None) -> int | None:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} must be in [{lo}, {hi}]")
    return value


@router.get("/api/detections")
async def list_detections(request: Request) -> Response:
    core = core_of(request)
    await core.principal(request, "viewer", "operator")
    q = request.query_params
    try:
        node_id = check_node_id(q["node_id"]) if "node_id" in q else None
        since = parse_time(q["captured_from"], "captured_from") if "captured_from" in q else None
        until = parse_time(q["captured_to"], "captured_to") if "captured_to" in q else None
    except Invalid as exc:
        raise ApiError(400, str(exc)) from None
    after_seq = _int_param(q.get("after_seq"), "after_seq", 0, 2**63 - 1, None)
    limit = _int_param(q.get("limit"), "limit", 1, 1000, 100)
    assert limit is not None
    after_id = _decode_cursor(q["cursor"]) if "cursor" in q else 0
    rows = await core.pool.fetch(
        """SELECT d.id, (d.payload || jsonb_build_object('id', d.id, 'stream_seq', e.seq,
                   'committed_at', coalesce(e.committed_at, d.committed_at)))::text AS js
           FROM detections d LEFT JOIN stream_events e ON e.id = d.stream_event_id
           WHERE d.id > $1
             AND ($2::text IS NULL OR d.node_id = $2)
             AND ($3::timestamptz IS NULL OR d.captured_at >= $3)
             AND ($4::timestamptz IS NULL OR d.captured_at <= $4)
             AND ($5::bigint IS NULL OR e.seq > $5)
           ORDER BY d.id LIMIT $6""",
        after_id, node_id, since, until, after_seq, limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = orjson.dumps(_encode_cursor(rows[-1]["id"])).decode() if more else "null"
    body = '{"items":[' + ",".join(r["js"] for r in rows) + '],"next_cursor":' + cursor + "}"
    return json_response(body.encode())


# ---------------------------------------------------------------- blackout
_BLACKOUT_JSON = """jsonb_build_object('id', b.id, 'node_id', b.node_id,
    'activated_at', b.activated_at, 'deactivated_at', b.deactivated_at,
    'activated_by', b.activated_by, 'reason', b.reason,
    'detections_queued', b.detections_queued)::text"""


async def _check_nodes(conn: asyncpg.Connection, node_ids: list[str]) -> None:
    known = {r["node_id"] for r in await conn.fetch(
        "SELECT node_id FROM nodes WHERE node_id = ANY($1::text[])", node_ids)}
    unknown = [n for n in node_ids if n not in known]
    if unknown:
        raise ApiError(404, f"unknown node(s): {', '.join(unknown[:20])} (nothing changed)")


async def _queue_command(conn: asyncpg.Connection, node_id: str, ctype: str,
                         payload: dict[str, Any], actor: str) -> int:
    cid: int = await conn.fetchval(
        "INSERT INTO node_commands (node_id, type, payload, created_by) "
        "VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
        node_id, ctype, orjson.dumps(payload).decode(), actor)
    await _audit(conn, actor, "command.create", node_id, {"id": cid, "type": ctype})
    return cid


async def _blackout_change(request: Request, activate: bool) -> Response:
    core = core_of(request)
    who = await core.principal(request, "operator")
    body = _obj(await read_json(request, core.settings.max_body_bytes))
    node_ids = _node_ids(body)
    reason = _opt_str(body, "reason", 1000)
    if activate and not reason:
        raise ApiError(422, "reason is required to activate a blackout")
    rows: list[str] = []
    async with core.pool.acquire() as conn, conn.transaction():
        await _check_nodes(conn, node_ids)
        for node_id in node_ids:
            await conn.execute("SELECT 1 FROM nodes WHERE node_id = $1 FOR UPDATE", node_id)
            if activate:
                row = await conn.fetchrow(
                    f"""WITH new AS (
                          INSERT INTO blackout_events (node_id, activated_by, reason)
                          VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING *)
                        SELECT b.id, {_BLACKOUT_JSON} AS js FROM new b""",
                    node_id, who.actor, reason)
                if row is None:  # already active: answer with the active row
                    rows.append(await conn.fetchval(
                        f"SELECT {_BLACKOUT_JSON} FROM blackout_events b "
                        "WHERE node_id = $1 AND deactivated_at IS NULL", node_id))
                    continue
                ctype = "blackout_on"
            else:
                row = await conn.fetchrow(
                    f"""WITH upd AS (
                          UPDATE blackout_events SET deactivated_at = now(),
                              deactivated_by = $2, deactivate_reason = $3
                          WHERE node_id = $1 AND deactivated_at IS NULL RETURNING *)
                        SELECT b.id, {_BLACKOUT_JSON} AS js FROM upd b""",
                    node_id, who.actor, reason)
                if row is None:
                    continue
                ctype = "blackout_off"
            rows.append(row["js"])
            await conn.execute(
                "UPDATE nodes SET blackout = $2, status = CASE WHEN $2 THEN 'covert' "
                "WHEN status = 'covert' THEN 'online' ELSE status END WHERE node_id = $1",
                node_id, activate)
            await conn.execute(
                "INSERT INTO stream_events (type, data) VALUES ('blackout', $1::jsonb)",
                row["js"])
            await _status_event(conn, node_id)
            await _queue_command(conn, node_id, ctype,
                                 {"blackout_id": row["id"], "reason": reason}, who.actor)
            await _audit(conn, who.actor,
                         "blackout.activate" if activate else "blackout.deactivate",
                         node_id, {"blackout_id": row["id"], "reason": reason})
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


# ---------------------------------------------------------------- commands
_CLAIM = """
WITH expired AS (
    UPDATE node_commands SET status = 'failed'
    WHERE node_id = $1 AND status = 'delivered' AND attempts >= $2 AND next_attempt_at <= now()
    RETURNING id
), due AS (
    SELECT id FROM node_commands
    WHERE node_id = $1 AND status IN ('pending', 'delivered') AND next_attempt_at <= now()
      AND attempts < $2 AND id NOT IN (SELECT id FROM expired)
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
        rows = await conn.fetch(_CLAIM, node_id, s.command_max_attempts,
                                s.command_ack_timeout_s)
    commands = [{"id": r["id"], "type": r["type"], "payload": orjson.Fragment(r["payload"]),
                 "attempt": r["attempts"], "created_at": _iso(r["created_at"])}
                for r in sorted(rows, key=lambda r: r["id"])]
    return json_response({"commands": commands})


@router.post("/api/nodes/{node_id}/commands/{command_id}/ack")
async def ack_command(node_id: str, command_id: str, request: Request) -> Response:
    core = core_of(request)
    who = await core.node_principal(request, node_id)
    cid = _int_param(command_id, "command id", 1, 2**63 - 1, None)
    body = _obj(await read_json(request, core.settings.max_body_bytes))
    ok = body.get("ok")
    if not isinstance(ok, bool):
        raise ApiError(422, "ok must be true or false")
    result = body.get("result")
    if result is not None and not isinstance(result, dict):
        raise ApiError(422, "result must be an object")
    queued = (result or {}).get("queued")
    if queued is not None and (isinstance(queued, bool) or not isinstance(queued, int)
                               or not 0 <= queued < 2**31):
        raise ApiError(422, "result.queued must be a non-negative integer")
    async with core.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, type, status, payload FROM node_commands "
            "WHERE id = $1 AND node_id = $2 FOR UPDATE", cid, node_id)
        if row is None:
            raise ApiError(404, f"no command {cid} for node {node_id}")
        if row["status"] in ("acked", "failed"):
            return json_response({"id": cid, "status": row["status"]})
        status = "acked" if ok else "failed"
        await conn.execute(
            "UPDATE node_commands SET status = $2, acked_at = now(), result = $3::jsonb "
            "WHERE id = $1", cid, status, orjson.dumps(result).decode() if result else None)
        if ok and row["type"] == "blackout_off" and queued is not None:
            payload = orjson.loads(row["payload"])
            bid = payload.get("blackout_id") if isinstance(payload, dict) else None
            if isinstance(bid, int):
                await conn.execute(
                    "UPDATE blackout_events SET detections_queued = $2 WHERE id = $1",
                    bid, queued)
        await _audit(conn, who.actor, "command.ack", node_id,
                     {"id": cid, "ok": ok, "result": result})
    return json_response({"id": cid, "status": status})


@router.post("/api/commands", status_code=201)
async def create_command(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "operator")
    body = _obj(await read_json(request, core.settings.max_body_bytes))
    try:
        node_id = check_node_id(body.get("node_id"))
    except Invalid as exc:
        raise ApiError(422, str(exc)) from None
    ctype = body.get("type")
    if not isinstance(ctype, str) or COMMAND_TYPE_RE.fullmatch(ctype) is None:
        raise ApiError(422, "type must be 1..64 characters of [A-Za-z0-9._-]")
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        raise ApiError(422, "payload must be an object")
    async with core.pool.acquire() as conn, conn.transaction():
        await _check_nodes(conn, [node_id])
        cid = await _queue_command(conn, node_id, ctype, payload, who.actor)
    return json_response({"id": cid, "node_id": node_id, "type": ctype, "payload": payload,
                          "status": "pending"}, 201)
