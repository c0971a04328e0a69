"""A free TCP port, for everything that starts a server on loopback (except the backend).

It lives in ``simulator`` because that is the package every other one may import: ``chaos``
and ``loadtests`` build on the simulator, tests import anything. ``sentinel_backend`` imports
none of them and keeps its own (``sentinel_backend.pg.free_port``).
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` right now.

    The port is only probed, not held: a server started with it a moment later almost always
    gets it, but another process may take it first, so callers that must not fail either
    retry or let the server bind port 0 and report what it got.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
