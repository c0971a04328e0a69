"""Detection routes: post one, post a batch, list with paging (docs/api.md, "Detections").

Every detection is stored by :mod:`..ingest`: one through its group committer, a batch in
one transaction of its own (bounded in number, 429 past the bound).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from ..core import ApiError, core_of, json_response, read_json_raw
from ..db import Overloaded
from ..ingest import Outcome, store_detections
from ..validation import (
    Detection,
    Invalid,
    batch_items,
    detection_query,
    encode_cursor,
    needs_deep_check,
    validate_detection,
)
from ._input import refused_as

__all__ = ["list_detections", "post_batch", "post_detection", "router"]

router = APIRouter()


def _outcome_json(det: Detection, out: Outcome) -> dict[str, Any]:
    return {"id": out.id, "node_id": det.node_id, "seq": det.seq,
            "duplicate": out.status == 200}


@router.post("/api/detections", status_code=201)
async def post_detection(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "node")
    body, raw = await read_json_raw(request, core.settings.max_body_bytes)
    with refused_as(422):
        det = validate_detection(body, deep_check=needs_deep_check(raw))
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


def _rejected(index: int, item: Any, exc: Invalid) -> dict[str, Any]:
    """The 422 result of an invalid batch item (its identity as far as it has one)."""
    nid = item.get("node_id") if isinstance(item, dict) else None
    sq = item.get("seq") if isinstance(item, dict) else None
    return {"index": index, "node_id": nid if isinstance(nid, str) else None,
            "seq": sq if isinstance(sq, int) else None, "status": 422, "detail": str(exc)}


def _stored(index: int, det: Detection, out: Outcome) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "node_id": det.node_id, "seq": det.seq,
                             "status": out.status, "id": out.id}
    if out.status in (200, 201):
        entry["duplicate"] = out.status == 200
    if out.detail:
        entry["detail"] = out.detail
    return entry


@router.post("/api/detections/batch")
async def post_batch(request: Request) -> Response:
    core = core_of(request)
    who = await core.principal(request, "node")
    body, raw = await read_json_raw(request, core.settings.max_body_bytes)
    deep = needs_deep_check(raw)
    with refused_as(422):
        items = batch_items(body)
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, Detection]] = []
    for index, item in enumerate(items):
        try:
            det = validate_detection(item, deep_check=deep)
        except Invalid as exc:
            results[index] = _rejected(index, item, exc)
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
        results[index] = _stored(index, det, out)
    m = core.metrics
    m.outcome["created"].inc(counts[201])
    m.outcome["duplicate"].inc(counts[200])
    m.outcome["conflict"].inc(counts[409])
    m.outcome["rejected"].inc(counts[422])
    return json_response({"results": results, "created": counts[201],
                          "duplicates": counts[200], "conflicts": counts[409],
                          "rejected": counts[422]})


#: Each row's JSON is built by PostgreSQL: the stored payload plus id, stream seq and
#: commit time (of the event when it has one).
_PAGE = """
SELECT d.id, (d.payload || jsonb_build_object('id', d.id, 'stream_seq', e.seq,
       'committed_at', coalesce(e.committed_at, d.committed_at) + make_interval(secs => $7)
       ))::text AS js
FROM detections d LEFT JOIN stream_events e ON e.id = d.stream_event_id
WHERE d.id > $1
  AND ($2::text IS NULL OR d.node_id = $2)
  AND ($3::timestamptz IS NULL OR d.captured_at >= $3)
  AND ($4::timestamptz IS NULL OR d.captured_at <= $4)
  AND ($5::bigint IS NULL OR e.seq > $5)
ORDER BY d.id LIMIT $6
"""


@router.get("/api/detections")
async def list_detections(request: Request) -> Response:
    core = core_of(request)
    await core.principal(request, "viewer", "operator")
    with refused_as(400):
        q = detection_query(request.query_params)
    rows = await core.pool.fetch(_PAGE, q.after_id, q.node_id, q.captured_from,
                                 q.captured_to, q.after_seq, q.limit + 1,
                                 core.settings.faults.clock_shift_s)
    more = len(rows) > q.limit
    rows = rows[:q.limit]
    cursor = orjson.dumps(encode_cursor(rows[-1]["id"])).decode() if more else "null"
    body = '{"items":[' + ",".join(r["js"] for r in rows) + '],"next_cursor":' + cursor + "}"
    return json_response(body.encode())
