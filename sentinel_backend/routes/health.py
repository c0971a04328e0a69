"""Health and metrics routes (docs/api.md, "Health and metrics")."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from .. import __version__
from ..core import ApiError, core_of, json_response

__all__ = ["health", "live", "metrics_endpoint", "ready", "router"]

router = APIRouter()

#: Probes of the database answer within this, or count as "down".
_PROBE_TIMEOUT_S = 1.0


async def _db_ok(pool: asyncpg.Pool) -> bool:
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), _PROBE_TIMEOUT_S)
        return True
    except Exception:
        return False


@router.get("/health")
async def health(request: Request) -> Response:
    core = core_of(request)
    ok = await _db_ok(core.pool)
    return json_response({"status": "ok" if ok else "degraded", "database": ok,
                          "stream_head": core.hub.head, "version": __version__})


@router.get("/health/live")
async def live() -> Response:
    return json_response({"status": "ok"})


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    if await _db_ok(core_of(request).pool):
        return json_response({"status": "ready"})
    raise ApiError(503, "database unavailable", {"Retry-After": "1"})


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    core = core_of(request)
    m = core.metrics
    m.stream_head.set(core.hub.head)
    m.sequencer_lag.set(max(0, core.hub.db_head - core.hub.head))
    m.ingest_queue.set(core.committer.depth)
    # The gauges read from the database keep their last value while it does not answer.
    with contextlib.suppress(Exception):
        m.command_queue.set(await asyncio.wait_for(core.pool.fetchval(
            "SELECT count(*) FROM node_commands WHERE status IN ('pending', 'delivered')"),
            _PROBE_TIMEOUT_S))
        m.unsequenced.set(await asyncio.wait_for(core.pool.fetchval(
            "SELECT count(*) FROM stream_events WHERE seq IS NULL"), _PROBE_TIMEOUT_S))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
