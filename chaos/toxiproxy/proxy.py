"""A proxy: one listener, its live connections, and the toxics configured on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from typing import Any, cast

from chaos.toxiproxy import errors
from chaos.toxiproxy.link import Link, set_linger_zero
from chaos.toxiproxy.model import ToxicEntry

log = logging.getLogger(__name__)


def split_host_port(address: str) -> tuple[str, int]:
    """``"host:port"`` / ``"[v6]:port"`` / ``":port"`` -> (host, port), as Go's net package."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def resolve_address(address: str) -> tuple[str, int]:
    """``"localhost:7070"`` -> ``("127.0.0.1", 7070)``: a listen address as Go resolves it.

    Go's ``net.ResolveTCPAddr`` prefers an IPv4 address; an empty host stays the wildcard
    (``0.0.0.0``). A stored proxy's ``listen`` is always in this resolved form, so comparing
    a requested address with it needs the request resolved the same way.
    """
    try:
        host, port = split_host_port(address)
    except ValueError as exc:
        raise errors.ApiError(f"listen tcp {address}: {exc}", 500) from exc
    if not host:
        return "0.0.0.0", port
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )
    except OSError as exc:
        raise errors.ApiError(f"listen tcp: lookup {host}: no such host", 500) from exc
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    ip = str(infos[0][4][0])
    return ip, port


class _Side(asyncio.Protocol):
    """One socket of a proxied connection (the client's or the upstream's)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.out: Link | None = None  # the link carrying what this side reads
        self.into: Link | None = None  # the link writing into this side
        self._holds: set[str] = set()
        self._pending: list[bytes] = []
        self._pending_eof = False

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self.out is not None:
            self.out.feed(data)
        else:
            self._pending.append(data)

    def eof_received(self) -> bool:
        if self.out is not None:
            self.out.feed_eof()
        else:
            self._pending_eof = True
        return True

    def pause_writing(self) -> None:
        if self.into is not None:
            self.into.src.hold_reading("peer", True)

    def resume_writing(self) -> None:
        if self.into is not None:
            self.into.src.hold_reading("peer", False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.side_lost(self, exc)

    # -- Endpoint for links ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def write_eof(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                transport.write_eof()

    def hold_reading(self, reason: str, hold: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        was_held = bool(self._holds)
        if hold:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        if bool(self._holds) != was_held:
            if self._holds:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def attach(self, conn: Connection, out: Link, into: Link) -> None:
        self.conn, self.out, self.into = conn, out, into
        pending, self._pending = self._pending, []
        for data in pending:
            out.feed(data)
        if self._pending_eof:
            out.feed_eof()


class _ClientSide(_Side):
    def __init__(self, proxy: Proxy) -> None:
        super().__init__()
        self.proxy = proxy

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.hold_reading("connecting", True)
        self.proxy.accepted(self)


class Connection:
    """A client connection and its upstream connection, joined by two links."""

    def __init__(self, proxy: Proxy, client: _Side, upstream: _Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.links: dict[str, Link] = {
            "upstream": Link(self, "upstream", client, upstream),
            "downstream": Link(self, "downstream", upstream, client),
        }
        self._closed = False

    def start(self, toxics: list[ToxicEntry]) -> None:
        up, down = self.links["upstream"], self.links["downstream"]
        for entry in toxics:
            self.links[entry.stream].add_toxic(entry)
        self.upstream.attach(self, down, up)
        self.client.attach(self, up, down)
        self.client.hold_reading("connecting", False)

    def link_finished(self) -> None:
        if all(link.finished for link in self.links.values()):
            self.close()

    def _transports(self) -> list[asyncio.Transport]:
        return [s.transport for s in (self.client, self.upstream) if s.transport is not None]

    def _drop(self) -> None:
        if not self._closed:
            self._closed = True
            for stream, link in self.links.items():
                link.cancel()
                self.proxy.bytes[stream] += link.bytes
            self.proxy.connections.discard(self)

    def close(self) -> None:
        """Graceful close of both sockets (what is already written is still sent)."""
        self._drop()
        for transport in self._transports():
            transport.close()

    def reset(self) -> None:
        """Close both sockets with a TCP RST."""
        self._drop()
        for transport in self._transports():
            set_linger_zero(transport)
            transport.abort()

    def abort(self) -> None:
        self._drop()
        for transport in self._transports():
            transport.abort()

    def side_lost(self, side: _Side, exc: Exception | None) -> None:
        if isinstance(exc, ConnectionResetError):
            self.reset()  # pass a reset on as a reset
        elif exc is not None:
            self.abort()
        else:
            self.close()


class Proxy:
    """A named listener forwarding to ``upstream``, with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen or "127.0.0.1:0"
        self.upstream = upstream
        self.enabled = False
        self.toxics: list[ToxicEntry] = []
        self.connections: set[Connection] = set()
        self._server: asyncio.AbstractServer | None = None
        self._connecting: set[asyncio.Task[None]] = set()
        self._rng = random.Random()
        self._upstream_down = False  # logged its unreachable upstream once already
        self.bytes = {"upstream": 0, "downstream": 0}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics_json(),
        }

    def byte_counts(self) -> dict[str, int]:
        """Bytes carried per stream, closed and live connections together."""
        counts = dict(self.bytes)
        for conn in self.connections:
            for stream, link in conn.links.items():
                counts[stream] += link.bytes
        return counts

    def toxics_json(self) -> list[dict[str, Any]]:
        ordered = [t for t in self.toxics if t.stream == "upstream"]
        ordered += [t for t in self.toxics if t.stream == "downstream"]
        return [t.to_json() for t in ordered]

    # -- listener ------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            return
        host, port = await resolve_address(self.listen)
        if self._server is not None:  # started by another request while resolving
            return
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.create_server((host, port), family=family, backlog=4096)
        except OSError as exc:
            raise errors.bind_error(join_host_port(host, port), exc) from exc
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ClientSide(self), sock=sock)
        bound_host, bound_port = sock.getsockname()[:2]
        self.listen = join_host_port(bound_host, bound_port)
        self.enabled = True
        log.info("proxy %s listening on %s -> %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connecting):
            task.cancel()
        for conn in list(self.connections):
            conn.abort()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
            if enabled:
                await self.start()
        elif enabled and not self.enabled:
            await self.start()
        elif not enabled and self.enabled:
            self.stop()

    # -- connections ---------------------------------------------------------------------
    def accepted(self, client: _ClientSide) -> None:
        task = asyncio.get_running_loop().create_task(self._connect(client))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect(self, client: _ClientSide) -> None:
        upstream = _Side()
        try:
            delay = max((t.toxic.accept_delay(self._rng) for t in self.toxics), default=0.0)
            if delay > 0:
                await asyncio.sleep(delay)  # handshake_delay: nothing moves until then
            host, port = split_host_port(self.upstream)
            await asyncio.get_running_loop().create_connection(lambda: upstream, host, port)
        except (OSError, ValueError, asyncio.CancelledError) as exc:
            if client.transport is not None:
                client.transport.close()
            if upstream.transport is not None:
                upstream.transport.close()
            if isinstance(exc, asyncio.CancelledError):
                raise
            # Once per outage at info (a database restart refuses hundreds of connects);
            # the rest at debug, until a connect succeeds again.
            level = logging.DEBUG if self._upstream_down else logging.INFO
            self._upstream_down = True
            log.log(level, "proxy %s: upstream %s unreachable: %s", self.name, self.upstream,
                    exc)
            return
        if self._upstream_down:
            self._upstream_down = False
            log.info("proxy %s: upstream %s reachable again", self.name, self.upstream)
        if client.transport is None or client.transport.is_closing() or not self.enabled:
            if upstream.transport is not None:
                upstream.transport.close()
            return
        conn = Connection(self, client, upstream)
        self.connections.add(conn)
        conn.start(self.toxics)

    # -- toxics --------------------------------------------------------------------------
    def find_toxic(self, name: str) -> ToxicEntry | None:
        return next((t for t in self.toxics if t.name == name), None)

    def add_toxic(self, entry: ToxicEntry) -> None:
        if self.find_toxic(entry.name) is not None:
            raise errors.TOXIC_ALREADY_EXISTS
        self.toxics.append(entry)
        for conn in list(self.connections):
            conn.links[entry.stream].add_toxic(entry)

    def update_toxic(self, entry: ToxicEntry) -> None:
        self.toxics = [entry if t.name == entry.name else t for t in self.toxics]
        for conn in list(self.connections):
            conn.links[entry.stream].update_toxic(entry)

    def remove_toxic(self, name: str) -> None:
        entry = self.find_toxic(name)
        if entry is None:
            raise errors.TOXIC_NOT_FOUND
        self.toxics.remove(entry)
        for conn in list(self.connections):
            conn.links[entry.stream].remove_toxic(name)

    def remove_all_toxics(self) -> None:
        for entry in list(self.toxics):
            self.remove_toxic(entry.name)
