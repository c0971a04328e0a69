"""TLS session resumption for asyncio connections.

A full TLS handshake costs the client a key exchange and a certificate-chain
verification; a resumed one (a session ticket) skips both. Python's client contexts do
not cache sessions by themselves, and ``loop.create_connection`` (asyncio's and uvloop's)
has no ``session=`` argument: the event loop makes the ``SSLObject`` itself with
``context.wrap_bio(...)``. So the context is where a session can be offered: this
subclass's ``wrap_bio`` offers the session last remembered for the server name, and the
caller (the HTTP pool) remembers a session once the server has sent its ticket, which in
TLS 1.3 comes after the handshake, with the first answer. Whether the server took it is
``SSLObject.session_reused``.

It is a real ``ssl.SSLContext`` subclass (uvloop refuses anything else), so the same
context also works unchanged for httpx and websockets.
"""

from __future__ import annotations

import ssl

__all__ = ["SessionResumingContext"]


class SessionResumingContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that offers the last remembered session per server name."""

    def __init__(self, protocol: int = ssl.PROTOCOL_TLS_CLIENT) -> None:
        # ssl.SSLContext.__new__ has already used ``protocol``.
        self._sessions: dict[str, ssl.SSLSession] = {}

    def remember_session(self, server_hostname: str, session: ssl.SSLSession | None) -> None:
        """Keep ``session`` to offer on the next connection to ``server_hostname``."""
        if session is not None:
            self._sessions[server_hostname] = session

    def forget_sessions(self) -> None:
        self._sessions.clear()

    def session_for(self, server_hostname: str) -> ssl.SSLSession | None:
        return self._sessions.get(server_hostname)

    def wrap_bio(
        self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, server_side: bool = False,
        server_hostname: str | bytes | None = None, session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        if session is None and not server_side and isinstance(server_hostname, str):
            session = self.session_for(server_hostname)
        return super().wrap_bio(
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname,
            session=session,
        )
