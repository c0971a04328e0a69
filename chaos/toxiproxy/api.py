"""Toxiproxy's HTTP API (v2) over a collection of proxies: routes, JSON shapes, status codes.

Every answer mirrors the Go server's ``api.go``: 201 on proxy create and populate, 200 on
toxic create and on updates, 204 on deletes and reset, ``{"error", "status"}`` bodies.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from chaos.toxiproxy import errors
from chaos.toxiproxy._http import Request, Response
from chaos.toxiproxy.model import parse_new_toxic, parse_toxic_update
from chaos.toxiproxy.proxy import Proxy, join_host_port, resolve_address

#: The Toxiproxy API version this server implements (reported by ``GET /version``).
TOXIPROXY_VERSION = "2.12.0"

Route = Callable[..., Awaitable[Response]]


#: The header Toxiproxy's request-ID middleware sets on every answer (logs quote the ID).
REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"


def _go_json(payload: object) -> bytes:
    """JSON as Go's ``json.Marshal`` writes it: compact, UTF-8, ``<``/``>``/``&`` escaped."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _json(status: int, payload: object) -> Response:
    return Response(status, _go_json(payload))


def _error(err: errors.ApiError) -> Response:
    """An API error as Go's ``http.Error`` sends it: the JSON as plain text, one line."""
    return Response(
        err.status,
        _go_json(err.body()) + b"\n",
        "text/plain; charset=utf-8",
        {"X-Content-Type-Options": "nosniff"},
    )


class RequestIds:
    """Request IDs in the format of Go's ``xid`` (what Toxiproxy's middleware generates).

    12 bytes -- seconds, a per-server random "machine" part, the PID, a counter -- as 20
    characters of lower-case base32hex, so IDs sort by time like the real server's.
    """

    def __init__(self) -> None:
        self._machine = os.urandom(3)
        self._pid = os.getpid() & 0xFFFF
        self._counter = int.from_bytes(os.urandom(3), "big")

    def next(self) -> str:
        self._counter = (self._counter + 1) & 0xFFFFFF
        raw = (
            int(time.time()).to_bytes(4, "big")
            + self._machine
            + self._pid.to_bytes(2, "big")
            + self._counter.to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode().rstrip("=").lower()


def _decode(body: bytes) -> object:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise errors.BAD_REQUEST_BODY.joined(str(exc)) from exc


class ToxiproxyAPI:
    """The proxies of one server and the HTTP handler that exposes them."""

    def __init__(self) -> None:
        self.proxies: dict[str, Proxy] = {}
        self._request_ids = RequestIds()
        s = r"([^/]+)"
        self._routes: list[tuple[str, re.Pattern[str], Route]] = [
            ("POST", re.compile(r"/reset"), self.reset),
            ("GET", re.compile(r"/proxies"), self.proxy_index),
            ("POST", re.compile(r"/proxies"), self.proxy_create),
            ("POST", re.compile(r"/populate"), self.populate),
            ("GET", re.compile(rf"/proxies/{s}"), self.proxy_show),
            ("POST", re.compile(rf"/proxies/{s}"), self.proxy_update),
            ("PATCH", re.compile(rf"/proxies/{s}"), self.proxy_update),
            ("DELETE", re.compile(rf"/proxies/{s}"), self.proxy_delete),
            ("GET", re.compile(rf"/proxies/{s}/toxics"), self.toxic_index),
            ("POST", re.compile(rf"/proxies/{s}/toxics"), self.toxic_create),
            ("GET", re.compile(rf"/proxies/{s}/toxics/{s}"), self.toxic_show),
            ("POST", re.compile(rf"/proxies/{s}/toxics/{s}"), self.toxic_update),
            ("PATCH", re.compile(rf"/proxies/{s}/toxics/{s}"), self.toxic_update),
            ("DELETE", re.compile(rf"/proxies/{s}/toxics/{s}"), self.toxic_delete),
            ("GET", re.compile(r"/version"), self.version),
            ("GET", re.compile(r"/metrics"), self.metrics),
        ]

    async def handle(self, request: Request) -> Response:
        response = await self._route(request)
        response.headers.setdefault(REQUEST_ID_HEADER, self._request_ids.next())
        return response

    async def _route(self, request: Request) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(
                403,
                b"User agent not allowed\n",
                "text/plain; charset=utf-8",
                {"X-Content-Type-Options": "nosniff"},
            )
        path_matched = False
        for method, pattern, route in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method != request.method:
                continue
            try:
                return await route(request, *(unquote(g) for g in match.groups()))
            except errors.ApiError as err:
                return _error(err)
        if path_matched:
            return Response(405, b"", "text/plain; charset=utf-8")
        return Response(
            404,
            b"404 page not found\n",
            "text/plain; charset=utf-8",
            {"X-Content-Type-Options": "nosniff"},
        )

    def _get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    async def _add(self, spec: object) -> Proxy:
        if not isinstance(spec, dict):
            raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
        name, upstream = spec.get("name"), spec.get("upstream")
        listen = spec.get("listen") or ""
        if not isinstance(name, str) or not name:
            raise errors.MISSING_FIELD.joined("name")
        if not isinstance(upstream, str) or not upstream:
            raise errors.MISSING_FIELD.joined("upstream")
        if not isinstance(listen, str):
            raise errors.BAD_REQUEST_BODY.joined("listen must be a string")
        if name in self.proxies:
            raise errors.PROXY_ALREADY_EXISTS
        proxy = Proxy(name, listen, upstream)
        if spec.get("enabled", True) is not False:
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    # -- handlers ------------------------------------------------------------------------
    async def reset(self, request: Request) -> Response:
        for proxy in self.proxies.values():
            await proxy.start()
            proxy.remove_all_toxics()
        return Response(204)

    async def proxy_index(self, request: Request) -> Response:
        return _json(200, {name: p.to_json() for name, p in self.proxies.items()})

    async def proxy_create(self, request: Request) -> Response:
        proxy = await self._add(_decode(request.body))
        return _json(201, proxy.to_json())

    async def populate(self, request: Request) -> Response:
        specs = _decode(request.body)
        if not isinstance(specs, list):
            return _json(
                400, {**errors.BAD_REQUEST_BODY.joined("expected a list").body(), "proxies": []}
            )
        for index, spec in enumerate(specs):
            if not isinstance(spec, dict) or not spec.get("name"):
                err = errors.MISSING_FIELD.joined(f"name at proxy {index + 1}")
                return _json(400, {**err.body(), "proxies": []})
            if not spec.get("upstream"):
                err = errors.MISSING_FIELD.joined(f"upstream at proxy {index + 1}")
                return _json(400, {**err.body(), "proxies": []})
        names = [spec["name"] for spec in specs]
        for name in names:
            if names.count(name) > 1:
                err = errors.ApiError(f"duplicate proxy name {json.dumps(name)}", 500)
                return _json(500, {**err.body(), "proxies": []})
        done: list[dict[str, Any]] = []
        for spec in specs:
            try:
                existing = self.proxies.get(spec["name"])
                if existing is not None:
                    if await self._unchanged(existing, spec):
                        done.append(existing.to_json())
                        continue
                    existing.stop()
                    del self.proxies[existing.name]
                done.append((await self._add(spec)).to_json())
            except errors.ApiError as err:
                return _json(err.status, {**err.body(), "proxies": done})
        return _json(201, {"proxies": done})

    @staticmethod
    async def _unchanged(existing: Proxy, spec: dict[str, Any]) -> bool:
        """Whether populating ``spec`` keeps ``existing`` (and its toxics), as Go's ``Differs``.

        The stored ``listen`` is the resolved, bound address (``127.0.0.1:7070``), so the
        requested one is resolved before comparing: ``localhost:7070`` is the same proxy.
        A spec without ``listen`` keeps the proxy's address.
        """
        if existing.upstream != spec["upstream"]:
            return False
        listen = spec.get("listen", existing.listen)
        if not isinstance(listen, str):
            raise errors.BAD_REQUEST_BODY.joined("listen must be a string")
        if listen == existing.listen:
            return True
        return join_host_port(*await resolve_address(listen)) == existing.listen

    async def proxy_show(self, request: Request, name: str) -> Response:
        return _json(200, self._get(name).to_json())

    async def proxy_update(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        body = _decode(request.body)
        if not isinstance(body, dict):
            raise errors.BAD_REQUEST_BODY.joined("expected a JSON object")
        listen = body.get("listen") or proxy.listen
        upstream = body.get("upstream") or proxy.upstream
        enabled = body.get("enabled", proxy.enabled)
        if not isinstance(listen, str) or not isinstance(upstream, str):
            raise errors.BAD_REQUEST_BODY.joined("listen and upstream must be strings")
        if not isinstance(enabled, bool):
            raise errors.BAD_REQUEST_BODY.joined("enabled must be a boolean")
        await proxy.update(listen, upstream, enabled)
        return _json(200, proxy.to_json())

    async def proxy_delete(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        proxy.stop()
        del self.proxies[name]
        return Response(204)

    async def toxic_index(self, request: Request, name: str) -> Response:
        return _json(200, self._get(name).toxics_json())

    async def toxic_create(self, request: Request, name: str) -> Response:
        proxy = self._get(name)
        entry = parse_new_toxic(_decode(request.body))
        proxy.add_toxic(entry)
        return _json(200, entry.to_json())

    async def toxic_show(self, request: Request, name: str, toxic: str) -> Response:
        entry = self._get(name).find_toxic(toxic)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        return _json(200, entry.to_json())

    async def toxic_update(self, request: Request, name: str, toxic: str) -> Response:
        proxy = self._get(name)
        entry = proxy.find_toxic(toxic)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        updated = parse_toxic_update(entry, _decode(request.body))
        proxy.update_toxic(updated)
        return _json(200, updated.to_json())

    async def toxic_delete(self, request: Request, name: str, toxic: str) -> Response:
        self._get(name).remove_toxic(toxic)
        return Response(204)

    async def version(self, request: Request) -> Response:
        body = f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode()
        return Response(200, body, "application/json;charset=utf-8")

    async def metrics(self, request: Request) -> Response:
        lines = [
            "# HELP toxiproxy_proxy_received_bytes_total Bytes read by a proxy, per direction.",
            "# TYPE toxiproxy_proxy_received_bytes_total counter",
        ]
        for proxy in self.proxies.values():
            for direction, count in proxy.byte_counts().items():
                labels = (
                    f'direction="{direction}",listener="{proxy.listen}",'
                    f'proxy="{proxy.name}",upstream="{proxy.upstream}"'
                )
                lines.append(f"toxiproxy_proxy_received_bytes_total{{{labels}}} {count}")
        lines += [
            "# HELP sentinel_toxiproxy_connections Live connections per proxy.",
            "# TYPE sentinel_toxiproxy_connections gauge",
        ]
        for proxy in self.proxies.values():
            lines.append(
                f'sentinel_toxiproxy_connections{{proxy="{proxy.name}"}} {len(proxy.connections)}'
            )
        body = ("\n".join(lines) + "\n").encode()
        return Response(200, body, "text/plain; version=0.0.4; charset=utf-8")

    def shutdown(self) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
