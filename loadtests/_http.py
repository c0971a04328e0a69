"""Tiny JSON-over-HTTP helper on the standard library.

The gate and the fault player talk to the backend and to Toxiproxy outside of Locust's
measured clients (their requests must not show up in the load statistics). urllib is
cooperative under Locust's gevent monkey-patching, so it blocks no other user.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

__all__ = ["HttpError", "request_json"]


class HttpError(RuntimeError):
    """A request that did not answer 2xx; carries the status (0 when unreachable)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def request_json(
    method: str,
    url: str,
    body: object | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
) -> Any:
    """Send ``body`` as JSON, return the decoded JSON answer (``None`` for an empty one).
    ``context`` verifies an ``https://`` server (the run's TLS options, ``loadtests._tls``)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode(errors="replace")
        raise HttpError(f"{method} {url} answered {exc.code}: {detail}", exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(f"{method} {url} failed: {exc}", 0) from exc
    return json.loads(raw) if raw.strip() else None
