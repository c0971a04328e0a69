"""The FastAPI application: wiring of pool, group committers, sequencer, hub and routes."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__, _authlimit, _logs, routes, ws
from ._planted import FanoutRewriter, LateAudit, prepare_database
from .auth import TokenBook
from .config import Settings
from .core import ApiError, Core
from .db import DatabaseUnavailable, Overloaded, connect_pool, is_unavailable
from .ingest import GroupCommitter
from .metrics import Metrics
from .migrate import apply_migrations
from .nodewrite import GroupWriter, beat_group, register_group
from .openapi import build_openapi
from .stream import Hub, Sequencer

__all__ = ["create_app"]

log = logging.getLogger("sentinel_backend")
access = logging.getLogger("sentinel_backend.access")


class RequestContext:
    """Pure ASGI middleware: request id, early 413 on Content-Length, access log, counts."""

    def __init__(self, app: ASGIApp, max_body: int, access_log: bool) -> None:
        self.app = app
        # Request ids: a random per-process prefix and a counter (cheaper than uuid4).
        self.prefix = uuid.uuid4().hex[:12] + "-"
        self.counter = itertools.count(1)
        self.max_body = max_body
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
            elif name == b"content-length":
                length = value
        rid = rid or f"{self.prefix}{next(self.counter):x}"
        token = _logs.request_id.set(rid)
        t0 = time.perf_counter()
        scope["sentinel.t0"] = t0
        status = 500

        async def send_wrapped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                body = orjson.dumps({"detail": f"body larger than {self.max_body} bytes "
                                               "(SENTINEL_MAX_BODY_BYTES)"})
                await Response(body, 413, media_type="application/json")(
                    scope, receive, send_wrapped)
            else:
                await self.app(scope, receive, send_wrapped)
        finally:
            app = scope.get("app")
            core = getattr(getattr(app, "state", None), "core", None)
            if core is not None:
                core.metrics.count_request(scope["method"], status)
            if self.access_log:
                access.info("%s %s %d", scope["method"], scope["path"], status, extra={
                    "fields": {"method": scope["method"], "path": scope["path"],
                               "status": status,
                               "ms": round((time.perf_counter() - t0) * 1000, 2)}})
            _logs.request_id.reset(token)


def _error(status: int, detail: str, headers: dict[str, str] | None = None,
           **extra: Any) -> Response:
    resp = Response(orjson.dumps({"detail": detail, **extra}), status,
                    media_type="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_r: Request, exc: ApiError) -> Response:
        return _error(exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(Overloaded)
    async def overloaded(_r: Request, exc: Overloaded) -> Response:
        return _error(429, f"overloaded ({exc}); retry later", {"Retry-After": "1"})

    @app.exception_handler(DatabaseUnavailable)
    async def unavailable(_r: Request, exc: DatabaseUnavailable) -> Response:
        return _error(503, "database unavailable; retry later", {"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_r: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_r: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def unexpected(_r: Request, exc: Exception) -> Response:
        if is_unavailable(exc):
            return _error(503, "database unavailable; retry later", {"Retry-After": "1"})
        if isinstance(exc, asyncpg.DataError):  # input validation should have caught it
            log.warning("input refused by the database: %s", exc)
            return _error(422, f"refused by the database: {exc}")
        log.exception("unhandled error")
        return _error(500, "internal error")


async def _detections_endpoint(request: Request) -> Response:
    """``/api/detections`` as one plain route: POST stores, GET lists."""
    if request.method == "POST":
        return await routes.post_detection(request)
    return await routes.list_detections(request)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (``uvicorn --factory sentinel_backend.app:create_app``)."""
    settings = settings or Settings.from_env()
    _logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        faults = settings.faults
        try:
            pool = await connect_pool(settings.database_url, settings.db_pool_size,
                                      sync_commit_off=faults.sync_commit_off)
        except Exception as exc:
            raise RuntimeError(
                f"cannot reach the database at DATABASE_URL ({exc}); check DATABASE_URL"
            ) from exc
        async with pool.acquire() as conn:
            applied = await apply_migrations(conn)
            await prepare_database(conn, faults)
        log.info("database ready; migrations applied now: %s", applied or "none")
        metrics = Metrics()
        committer = GroupCommitter(
            pool, max_group=settings.group_commit_max, queue_max=settings.ingest_queue_max,
            on_group=lambda n, _s: metrics.group_size.observe(n), faults=settings.faults)
        sequencer = Sequencer(settings.database_url, offline_after_s=settings.offline_after_s,
                              min_interval_s=settings.sequencer_interval_ms / 1000)
        hub = Hub(settings.database_url, pool, coalesce_s=settings.ws_coalesce_ms / 1000,
                  heartbeat_s=settings.ws_heartbeat_s,
                  delay_s=faults.stream_delay_ms / 1000,
                  rewrite=FanoutRewriter(faults) if faults.hits_fanout else None,
                  clock_shift_s=faults.clock_shift_s)
        late_audit = (LateAudit(pool, faults.audit_separate_tx_ms / 1000)
                      if faults.audit_separate_tx_ms else None)
        if faults.active:
            log.warning("PLANTED FAULTS ON (self-test only): %s", faults.describe())
        # Registrations and heartbeats: one statement (one commit) per group, as detections.
        registrar = GroupWriter(pool, register_group, lambda r: r.node_id, name="register",
                                queue_max=settings.ingest_queue_max)
        beats = GroupWriter(pool, beat_group, lambda b: b.node_id, name="heartbeat",
                            queue_max=settings.ingest_queue_max)
        app.state.core = Core(settings, pool, TokenBook(
            settings.enrollment_key, settings.operator_token, settings.viewer_token),
            committer, sequencer, hub, metrics, registrar, beats, late_audit)
        app.state.batch_slots = asyncio.Semaphore(settings.batch_concurrency)
        app.state.batch_inflight = 0
        committer.start()
        registrar.start()
        beats.start()
        sequencer.start()
        await hub.start()
        log.info("backend started (version %s)", __version__)
        try:
            yield
        finally:
            await hub.stop()
            await committer.stop()
            if late_audit is not None:
                await late_audit.stop()
            await registrar.stop()
            await beats.stop()
            await sequencer.stop()
            await pool.close()
            log.info("backend stopped")

    app = FastAPI(title="sentinel_backend", version=__version__, lifespan=lifespan,
                  description="The Sentinel resilient backend API (see docs/api.md).")
    document = build_openapi(__version__)
    app.openapi = lambda: document  # type: ignore[method-assign]
    app.add_middleware(RequestContext, max_body=settings.max_body_bytes,
                       access_log=settings.access_log)
    # Failed authentication slowed down per address, for every way the app is served.
    _authlimit.install(app, settings)
    _install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(ws.router)
    # The hot routes (ingest, heartbeat, register) again, first and as plain Starlette
    # routes: FastAPI's matching and dependency solving cost more per request than the
    # handler itself. The OpenAPI document is written from the contract (.openapi), not
    # from the routes, so it lists these too. /api/detections takes GET here as well, so
    # that a 405 there names both of its methods in Allow.
    app.router.routes[0:0] = [
        Route("/api/detections", _detections_endpoint, methods=["GET", "POST"]),
        Route("/api/detections/batch", routes.post_batch, methods=["POST"]),
        Route("/api/nodes/{node_id}/heartbeat", routes.heartbeat_route, methods=["POST"]),
        Route("/api/nodes/register", routes.register, methods=["POST"]),
    ]

    return app
