"""A small HTTP/1.1 server on asyncio streams, enough for Toxiproxy's JSON API.

It runs on the same event loop as the proxies, so API handlers change proxies and toxics
without locks or thread hops. Keep-alive, ``Content-Length`` and chunked request bodies are
supported (the Go, Ruby, Java and Python clients use one or the other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_HEADER = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
IDLE_TIMEOUT = 60.0  # seconds a keep-alive connection may sit idle (as Toxiproxy)
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    500: "Internal Server Error",
}


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class _BadRequest(Exception):
    pass


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("incomplete request head") from exc
        return None
    except asyncio.LimitOverrunError as exc:
        raise _BadRequest("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {"__version__": version}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("expect", "").lower() == "100-continue":  # curl, some Java clients
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            if len(body) + size > MAX_BODY:
                raise _BadRequest("request body too large")
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        data = bytes(body)
    else:
        length = int(headers.get("content-length", "0") or "0")
        if length > MAX_BODY:
            raise _BadRequest("request body too large")
        data = await reader.readexactly(length) if length else b""
    path = target.split("?", 1)[0]
    return Request(method.upper(), path, headers, data)


def _encode(response: Response, keep_alive: bool) -> bytes:
    reason = REASONS.get(response.status, "Unknown")
    head = [f"HTTP/1.1 {response.status} {reason}"]
    if response.status != 204:
        head.append(f"Content-Type: {response.content_type}")
        head.append(f"Content-Length: {len(response.body)}")
    head.extend(f"{k}: {v}" for k, v in response.headers.items())
    if not keep_alive:
        head.append("Connection: close")
    body = b"" if response.status == 204 else response.body
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            try:
                request = await asyncio.wait_for(_read_request(reader, writer), IDLE_TIMEOUT)
            except TimeoutError:
                break
            except (_BadRequest, ValueError) as exc:
                writer.write(_encode(Response(400, str(exc).encode(), "text/plain"), False))
                break
            if request is None:
                break
            version = request.headers.get("__version__", "HTTP/1.1")
            connection = request.headers.get("connection", "").lower()
            keep_alive = connection != "close" and (
                version == "HTTP/1.1" or connection == "keep-alive"
            )
            try:
                response = await handler(request)
            except Exception:
                log.exception("API handler failed for %s %s", request.method, request.path)
                response = Response(500, b'{"error":"internal error","status":500}')
            writer.write(_encode(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                break
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start_http_server(handler: Handler, host: str, port: int) -> asyncio.Server:
    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_connection(handler, reader, writer)

    return await asyncio.start_server(on_connection, host, port, limit=MAX_HEADER)
