"""A tiny keep-alive HTTP/1.1 echo server, plain or TLS, for the pool's tests and benchmark.

The fleet's HTTP pool needs a real peer to be measured and tested against without the
backend's own cost (database, validation) in the figures: this one answers every request
at once with a small JSON echo of method, path and body, keeps connections open, and
counts connections and resumed TLS sessions so a test can see what the client did.
In-process use: :func:`start_loopback_server`. As a subprocess (so its CPU is not the
client's): ``python -m simulator._loopback_server [--cert C --key K [--client-ca CA]]``
prints ``PORT <n>`` and serves until its standard input closes or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import orjson

__all__ = ["LoopbackServer", "ServerStats", "server_context", "start_loopback_server"]

_MAX_HEAD = 64 * 1024


@dataclass(slots=True)
class ServerStats:
    connections: int = 0
    tls_resumed: int = 0
    requests: int = 0
    peer_certs: int = 0
    """TLS connections on which the client presented a certificate."""


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A TLS server context; with ``client_ca`` it requires a client certificate from it."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx


class _EchoProtocol(asyncio.Protocol):
    def __init__(self, stats: ServerStats) -> None:
        self._stats = stats
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._stats.connections += 1
        sslobj = transport.get_extra_info("ssl_object")
        if sslobj is not None:
            if sslobj.session_reused:
                self._stats.tls_resumed += 1
            if sslobj.getpeercert():
                self._stats.peer_certs += 1

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._buf[:1].isalpha():  # not HTTP (e.g. a TLS ClientHello): say so, hang up
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n"
                                  b"Content-Length: 0\r\n\r\n")
            self._transport.close()
            return
        while self._answer_one():
            pass
        if len(self._buf) > _MAX_HEAD and b"\r\n\r\n" not in self._buf:
            assert self._transport is not None
            self._transport.close()

    def _answer_one(self) -> bool:
        """Answer the first complete request in the buffer; False when there is none."""
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        length = 0
        close = False
        for h in lines[1:]:
            k, _, v = h.partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "connection" and v.strip().lower() == "close":
                close = True
        if len(self._buf) < end + 4 + length:
            return False
        body = bytes(self._buf[end + 4:end + 4 + length])
        del self._buf[:end + 4 + length]
        method, path = [*lines[0].split(" "), "", ""][:2]
        self._stats.requests += 1
        payload = orjson.dumps({"method": method, "path": path, "body": body.decode("latin-1")})
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n")
        if close:
            head += "Connection: close\r\n"
        assert self._transport is not None
        self._transport.write(head.encode("latin-1") + b"\r\n" + payload)
        if close:
            self._transport.close()
            return False
        return True


@dataclass(slots=True)
class LoopbackServer:
    server: asyncio.Server
    port: int
    stats: ServerStats
    tls: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def aclose(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 5)


async def start_loopback_server(
    ssl_context: ssl.SSLContext | None = None, host: str = "127.0.0.1", port: int = 0
) -> LoopbackServer:
    """Listen on ``host:port`` (0: any free port) in the running loop."""
    stats = ServerStats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _EchoProtocol(stats), host, port, ssl=ssl_context, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    return LoopbackServer(server, bound, stats, tls=ssl_context is not None)


async def _serve_until_stdin_closes(ctx: ssl.SSLContext | None, max_seconds: float) -> None:
    srv = await start_loopback_server(ctx)
    print(f"PORT {srv.port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        async with asyncio.timeout(max_seconds):
            while await reader.read(4096):  # bounded by the deadline
                pass
    except TimeoutError:
        pass
    finally:
        transport.close()
        await srv.aclose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator._loopback_server")
    p.add_argument("--cert", type=Path)
    p.add_argument("--key", type=Path)
    p.add_argument("--client-ca", type=Path)
    p.add_argument("--max-seconds", type=float, default=600.0)
    a = p.parse_args(argv)
    ctx = server_context(a.cert, a.key, a.client_ca) if a.cert else None
    try:
        import uvloop
        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run  # type: ignore[assignment]
    run(_serve_until_stdin_closes(ctx, a.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
