"""Real TCP upstreams for the toxiproxy tests, on their own event-loop thread, plus small
blocking-socket helpers. Everything is bounded in time; servers stop on fixture teardown."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echo everything; half-close after the client's EOF."""
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def source(payload: bytes) -> Handler:
    """Send ``payload`` on connect, then close."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handler


class Upstreams:
    """TCP servers on a private event loop thread; ``add(handler)`` returns ``"host:port"``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, handler: Handler) -> str:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(handler, "127.0.0.1", 0, backlog=2048)

        server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        self._servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    def close(self) -> None:
        for server in self._servers:
            self.loop.call_soon_threadsafe(server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        with contextlib.suppress(Exception):
            self.loop.close()


def connect(listen: str, timeout: float = 10.0) -> socket.socket:
    host, _, port = listen.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_all(sock: socket.socket, limit: int = 1 << 30) -> bytes:
    """Read until EOF (or ``limit`` bytes)."""
    got = bytearray()
    while len(got) < limit:
        data = sock.recv(1 << 20)
        if not data:
            break
        got += data
    return bytes(got)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        data = sock.recv(size - len(got))
        if not data:
            raise EOFError(f"EOF after {len(got)} of {size} bytes")
        got += data
    return bytes(got)


def echo_transfer(
    listen: str, payload: bytes, during: Callable[[], None] | None = None, timeout: float = 30
) -> bytes:
    """Send ``payload`` through an echo upstream and return what came back.

    ``during`` runs (in this thread) while the transfer is in flight.
    """
    sock = connect(listen, timeout)
    try:

        def send() -> None:
            view = memoryview(payload)
            for start in range(0, len(view), 256 * 1024):
                sock.sendall(view[start : start + 256 * 1024])
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        result = bytearray()
        if during is not None:
            deadline = time.monotonic() + timeout
            while len(result) < len(payload) // 8 and time.monotonic() < deadline:
                result += sock.recv(1 << 16)
            during()
        result += recv_all(sock)
        sender.join(timeout)
        return bytes(result)
    finally:
        sock.close()
