"""How one request of an edge user ended, in the ledger's words (``SendAttempt.outcome``).

Locust's FastHttpUser reports a transport failure as status 0 with the exception in
``error``; the verdict wants to know which failure it was (the answer may have been lost
after the commit, which is what makes a retry a duplicate), so it is named from the
exception's type: ``timeout``, ``refused``, ``reset`` (the connection dropped before the
answer) or ``error``. Pure functions, no Locust.
"""

from __future__ import annotations

import http.client
import socket
from typing import Any

__all__ = ["says_duplicate", "send_outcome", "transport_outcome"]


def transport_outcome(error: BaseException | None) -> str:
    """The name of a transport failure, from the exception the HTTP client raised."""
    if error is None:
        return "error"
    if isinstance(error, TimeoutError | socket.timeout) or "Timeout" in type(error).__name__:
        return "timeout"  # gevent.Timeout is not an OSError: recognised by its name
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError | ConnectionAbortedError
                  | http.client.HTTPException):
        # geventhttpclient's HTTPConnectionClosed is an HTTPException: closed before the answer
        return "reset"
    return "error"


def send_outcome(status: int, error: BaseException | None) -> str:
    """``"201"``, ``"429"``...; a transport failure (status 0) by its name."""
    return transport_outcome(error) if status == 0 else str(status)


def says_duplicate(body: Any) -> bool:
    """The answer (or a batch result) said ``"duplicate": true``."""
    return isinstance(body, dict) and body.get("duplicate") is True
