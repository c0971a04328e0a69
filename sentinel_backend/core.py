"""The per-process state shared by the routes, and small helpers every route uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from ._planted import LateAudit
from .auth import Principal, TokenBook
from .config import Settings
from .ingest import GroupCommitter
from .metrics import Metrics
from .nodewrite import Beat, BeatResult, GroupWriter, Registration, RegResult
from .stream import Hub, Sequencer
from .validation import NODE_ID_RE, Invalid, parse_json

__all__ = ["ApiError", "Core", "json_response", "read_json", "read_json_raw"]


class ApiError(Exception):
    """An error answered as ``{"detail": ...}`` with a 4xx (or 503) status."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.extra = extra


@dataclass
class Core:
    settings: Settings
    pool: asyncpg.Pool
    tokens: TokenBook
    committer: GroupCommitter
    sequencer: Sequencer
    hub: Hub
    metrics: Metrics
    registrar: GroupWriter[Registration, RegResult | None]
    beats: GroupWriter[Beat, BeatResult | None]
    #: The planted fault SENTINEL_FAULT_AUDIT_SEPARATE_TX (faults.py); None normally.
    late_audit: LateAudit | None = None

    async def principal(self, conn: HTTPConnection, *roles: str,
                        token: str | None = None) -> Principal:
        """The caller, who must hold one of `roles` (401 without a known token, 403 else)."""
        if token is None:
            header = conn.headers.get("authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise ApiError(401, "missing bearer token (Authorization: Bearer <token>)",
                               {"WWW-Authenticate": "Bearer"})
            token = value.strip()
        if len(token) > 512 or "\x00" in token:
            raise ApiError(401, "unknown token", {"WWW-Authenticate": "Bearer"})
        found = await self.tokens.resolve(self.pool, token)
        if found is None:
            raise ApiError(401, "unknown token", {"WWW-Authenticate": "Bearer"})
        if found.role not in roles:
            raise ApiError(403, f"a {found.role} token may not do this")
        return found

    async def node_principal(self, conn: HTTPConnection, node_id: str,
                             *also: str) -> Principal:
        """A node token of `node_id` (403 for another node's token), or one of `also`."""
        who = await self.principal(conn, "node", *also)
        if who.role == "node" and who.node_id != node_id:
            raise ApiError(403, f"this node token belongs to {who.node_id}, not {node_id!r}")
        if NODE_ID_RE.fullmatch(node_id) is None:
            raise ApiError(404, "unknown node (node ids are 1..64 characters of [A-Za-z0-9._-])")
        return who


def core_of(conn: HTTPConnection) -> Core:
    core: Core = conn.app.state.core
    return core


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON; 413 past `limit` bytes (also without Content-Length)."""
    return (await read_json_raw(request, limit))[0]


async def read_json_raw(request: Request, limit: int) -> tuple[Any, bytes]:
    """The body as JSON and as bytes; 413 past `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than {limit} bytes (SENTINEL_MAX_BODY_BYTES)")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return parse_json(body), body
    except Invalid as exc:
        raise ApiError(400, str(exc)) from None


def json_response(content: Any, status: int = 200) -> Response:
    body = content if isinstance(content, bytes) else orjson.dumps(content)
    return Response(body, status_code=status, media_type="application/json")
