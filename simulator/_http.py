"""A minimal keep-alive HTTP/1.1 client for the fleet's hot path.

Why not httpx here: its connection pool does O(connections) work per request
and tries an import per request (sniffio); profiled at ~3 ms of CPU per request,
a fleet of 10,000 nodes (2,000 requests/s) cannot afford it. This client does
exactly what the fleet needs over loopback or a proxy: a fixed number of
keep-alive connections (one per worker, so nobody waits for a slot), a
Content-Length body, Content-Length or chunked responses, and one deadline per
request. A request that fails on a reused connection before any byte of the
answer (the server closed it, e.g. after a restart) is retried once on a fresh
one; that is safe because every fleet request is idempotent.

``https://`` targets use the same asyncio connections with the standard ``ssl`` module
(context from ``simulator.tls.client_context``, or pass ``ssl_context=``). A TLS handshake
costs far more CPU than a request, so keep-alive matters more there, and the pool
resumes TLS sessions: after the first answer on a new connection (when a TLS 1.3 server
has sent its ticket) it keeps that connection's ``ssl.SSLSession`` and offers it to the
next connection it opens (``simulator.tls.SessionResumingContext``); ``tls_resumed``
counts the connections on which the server accepted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from simulator._tls_errors import describe_ssl_error
from simulator._tls_session import SessionResumingContext
from simulator.tls import TlsOptions, client_context

__all__ = ["HttpError", "HttpPool", "HttpResponse"]


class HttpError(Exception):
    """Transport failure: connect refused/timeout, reset, EOF, bad answer, deadline passed."""


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.transport.abort()


class _Stale(Exception):
    """The reused connection was closed by the server before it answered."""


class HttpPool:
    """Up to ``size`` keep-alive connections to one origin (``http://`` or ``https://``).

    ``ssl_context`` is used for ``https://`` (default: ``client_context(TlsOptions())``,
    the system trust store or ``SSL_CERT_FILE``); it is ignored for ``http://``.
    ``connections_opened``, ``tls_resumed`` and ``last_session`` say how much keep-alive
    and session resumption saved.
    """

    def __init__(
        self, base_url: str, size: int = 64, timeout_s: float = 5.0, connect_timeout_s: float = 2.0,
        *, ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        u = urlsplit(base_url)
        if u.scheme == "https":
            self._tls: ssl.SSLContext | None = ssl_context or client_context(TlsOptions())
        elif u.scheme == "http":
            self._tls = None
        else:
            raise ValueError(f"only http:// and https:// targets are supported, not {base_url!r}")
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or (443 if self._tls is not None else 80)
        self.prefix = u.path.rstrip("/")
        self.host_header = u.netloc
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: list[_Conn] = []
        self._sem = asyncio.Semaphore(size)
        self._closed = False
        self.connections_opened = 0
        self.tls_resumed = 0
        self.last_session: ssl.SSLSession | None = None

    @property
    def is_tls(self) -> bool:
        return self._tls is not None

    async def aclose(self) -> None:
        self._closed = True
        for c in self._idle:
            c.close()
        self._idle.clear()

    async def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, timeout_s: float | None = None,
    ) -> HttpResponse:
        head = [f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        if headers:
            head.extend(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        data = "".join(head).encode("latin-1") + (body or b"")
        deadline = timeout_s if timeout_s is not None else self.timeout_s
        async with self._sem:
            try:
                async with asyncio.timeout(deadline):
                    conn = self._idle.pop() if self._idle else None
                    if conn is not None:
                        try:
                            return await self._exchange(conn, data, reused=True)
                        except _Stale:
                            pass
                    conn = await self._connect()
                    resp = await self._exchange(conn, data, reused=False)
                    if self._tls is not None:
                        self._note_session(conn)
                    return resp
            except _Stale as exc:
                raise HttpError("connection closed before the answer") from exc
            except TimeoutError as exc:
                raise HttpError(f"no answer within {deadline} s") from exc

    async def _connect(self) -> _Conn:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if self._tls is None:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, limit=1 << 22
                    )
                else:
                    reader, writer = await asyncio.open_connection(
                        self.host, self.port, limit=1 << 22, ssl=self._tls,
                        server_hostname=self.host,
                        ssl_handshake_timeout=self.connect_timeout_s,
                    )
        except TimeoutError as exc:
            raise HttpError(f"connect to {self.host}:{self.port} timed out") from exc
        except ssl.SSLError as exc:
            problem = describe_ssl_error(exc, self.host, client_cert_given=False)
            raise HttpError(f"TLS to {self.host}:{self.port}: {problem}") from exc
        except OSError as exc:
            raise HttpError(f"connect to {self.host}:{self.port}: {exc}") from exc
        self.connections_opened += 1
        return _Conn(reader, writer)

    def _note_session(self, conn: _Conn) -> None:
        """After the first answer on a new TLS connection: count a resumption and keep
        the session (its ticket has arrived by now) to offer to the next connection."""
        sslobj = conn.writer.get_extra_info("ssl_object")
        if not isinstance(sslobj, ssl.SSLObject | ssl.SSLSocket):
            return
        if sslobj.session_reused:
            self.tls_resumed += 1
        session = sslobj.session
        if session is not None:
            self.last_session = session
            if isinstance(self._tls, SessionResumingContext):
                self._tls.remember_session(self.host, session)

    async def _exchange(self, conn: _Conn, data: bytes, reused: bool) -> HttpResponse:
        got_any = False
        try:
            conn.writer.write(data)
            reader = conn.reader
            line = await reader.readuntil(b"\r\n\r\n")
            got_any = True
            lines = line.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            status = int(parts[1])
            hdrs: dict[str, str] = {}
            for h in lines[1:]:
                if h:
                    k, _, v = h.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
            if "content-length" in hdrs:
                n = int(hdrs["content-length"])
                payload = await reader.readexactly(n) if n else b""
            elif hdrs.get("transfer-encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")
                        break
                    chunks.append(await reader.readexactly(size))
                    await reader.readexactly(2)
                payload = b"".join(chunks)
            elif status in (204, 304) or 100 <= status < 200:
                payload = b""
            else:
                payload = await reader.read()  # until close
                hdrs["connection"] = "close"
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            conn.close()
            if reused and not got_any:
                raise _Stale() from exc
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except (asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            conn.close()
            raise HttpError(f"bad answer: {exc}") from exc
        except BaseException:
            conn.close()  # cancelled or timed out mid-exchange: the connection is unusable
            raise
        if hdrs.get("connection", "").lower() == "close" or self._closed:
            conn.close()
        else:
            self._idle.append(conn)
        return HttpResponse(status, hdrs, payload)
