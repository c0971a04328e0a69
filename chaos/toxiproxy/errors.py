"""Toxiproxy's API errors: the same messages and status codes as the Go server.

Clients (toxiproxy-python, the Go, Ruby and Java clients) branch on the status code, and
some show the ``error`` text, so both are kept byte-for-byte where Toxiproxy defines them.
"""

from __future__ import annotations

import os


class ApiError(Exception):
    """An error answered as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def joined(self, detail: str) -> ApiError:
        """Toxiproxy's ``joinError``: ``"<message>: <detail>"`` with the same status."""
        return ApiError(f"{self.message}: {detail}", self.status)

    def body(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


def bind_error(listen: str, exc: OSError) -> ApiError:
    """A failed listen, worded as Go's ``net.Listen`` error (clients match on the text).

    ``listen tcp 127.0.0.1:3310: bind: address already in use``: Go names the failing
    system call and spells the errno in lower case, where Python says
    ``[Errno 98] Address already in use``.
    """
    if exc.errno is None:
        return ApiError(f"listen tcp {listen}: {exc}", 500)
    reason = os.strerror(exc.errno)
    reason = reason[:1].lower() + reason[1:]
    return ApiError(f"listen tcp {listen}: bind: {reason}", 500)


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)
