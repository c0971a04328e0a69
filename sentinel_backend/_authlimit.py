"""Failed authentication is slowed down: a token bucket per client address.

What counts: an answer of 401/403 (HTTP) or a close 4401/4403 (``WS /ws``), and only the
first time a given credential fails from an address (the last ``remembered`` failed
credentials of each address are kept, as short hashes). A node retrying its one stale token
after the database forgot it, or a dashboard reconnecting with the same wrong token, is
one failure, however often it retries; someone guessing keys or tokens spends one per guess.
Each address may spend ``burst`` at once and earns ``per_s`` back per second.

What is refused: only an answer that would have been a 401/403 anyway. Past the budget, such
an answer becomes 429 with ``Retry-After`` (``WS /ws``: close 4429). A request with a correct
token is never refused, and is not slowed either: the limiter looks at the answer, not at the
request, so it adds nothing to the path of a request that authenticates. That is on purpose:
every client of the embedded stack, and every node behind one NAT, comes from the same
address (127.0.0.1 through the proxy), so refusing the *address* would let a burst of wrong
tokens lock the fleet out beside it. The guard against guessing is the size of the secrets
(256 bits each); the budget makes a guessing client visible (one warning per episode) and
tells a well-behaved one to back off.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import Settings

__all__ = ["CLOSE_TOO_MANY_FAILURES", "AuthFailureLimiter", "FailureBudget", "install"]

CLOSE_TOO_MANY_FAILURES = 4429
_REFUSED_HTTP = (401, 403)
_REFUSED_WS = (4401, 4403)

log = logging.getLogger("sentinel_backend.auth")


@dataclass
class _Address:
    tokens: float
    updated: float
    failed: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    throttled: bool = False


class FailureBudget:
    """The buckets: how many new failed credentials each address may still spend.

    Bounded: at most `max_addresses` addresses (the least recently failing forgotten first)
    and `remembered` failed credentials each. ``burst == 0`` turns the limit off.
    """

    def __init__(self, burst: int, per_s: float, *, remembered: int = 1024,
                 max_addresses: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.per_s = per_s
        self.remembered = remembered
        self.max_addresses = max_addresses
        self._clock = clock
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def charge(self, address: str, credential: bytes) -> float | None:
        """A credential failed from `address`: ``None`` if the 401/403 may stand, else the
        seconds until the address may fail with a new credential again (answer 429)."""
        if self.burst <= 0:
            return None
        now = self._clock()
        state = self._addresses.get(address)
        if state is None:
            state = self._addresses[address] = _Address(float(self.burst), now)
            while len(self._addresses) > self.max_addresses:
                self._addresses.popitem(last=False)
        else:
            self._addresses.move_to_end(address)
            state.tokens = min(float(self.burst), state.tokens + (now - state.updated) * self.per_s)
            state.updated = now
        digest = hashlib.blake2b(credential, digest_size=16).digest()
        if digest in state.failed:  # the same wrong credential again: not a new guess
            state.failed.move_to_end(digest)
            return None
        state.failed[digest] = None
        while len(state.failed) > self.remembered:
            state.failed.popitem(last=False)
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            state.throttled = False
            return None
        if not state.throttled:
            state.throttled = True
            log.warning("authentication failures from %s past the budget "
                        "(SENTINEL_AUTH_FAIL_BURST=%d, SENTINEL_AUTH_FAIL_PER_S=%g): "
                        "answering 429", address, self.burst, self.per_s)
        return (1.0 - state.tokens) / self.per_s if self.per_s > 0 else 60.0


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _credential(scope: Scope) -> bytes:
    """What the caller presented: the Authorization header, or ``WS /ws``'s ``?token=``."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value)
    if scope["type"] == "websocket":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        return "\n".join(query.get("token", ())).encode("utf-8", "surrogateescape")
    return b""


def _retry_after(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))


class AuthFailureLimiter:
    """Pure ASGI middleware: turns a 401/403 past the address's budget into a 429."""

    def __init__(self, app: ASGIApp, budget: FailureBudget) -> None:
        self.app = app
        self.budget = budget

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.app(scope, receive, self._http_send(scope, send))
        elif scope["type"] == "websocket":
            await self.app(scope, receive, self._ws_send(scope, send))
        else:
            await self.app(scope, receive, send)

    def _http_send(self, scope: Scope, send: Send) -> Send:
        replaced = False

        async def guarded(message: Message) -> None:
            nonlocal replaced
            if replaced:  # the refused answer's body: dropped, ours was sent whole
                return
            if message["type"] == "http.response.start" \
                    and message["status"] in _REFUSED_HTTP:
                wait = self.budget.charge(_address(scope), _credential(scope))
                if wait is not None:
                    replaced = True
                    seconds = _retry_after(wait)
                    body = orjson.dumps({"detail": "too many failed authentications from "
                                                   f"this address; retry in {seconds} s"})
                    await send({"type": "http.response.start", "status": 429, "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(seconds).encode())]})
                    await send({"type": "http.response.body", "body": body,
                                "more_body": False})
                    return
            await send(message)

        return guarded

    def _ws_send(self, scope: Scope, send: Send) -> Send:
        async def guarded(message: Message) -> None:
            if message["type"] == "websocket.close" and message.get("code") in _REFUSED_WS:
                wait = self.budget.charge(_address(scope), _credential(scope))
                if wait is not None:
                    message = {"type": "websocket.close", "code": CLOSE_TOO_MANY_FAILURES,
                               "reason": "too many failed authentications; retry in "
                                         f"{_retry_after(wait)} s"}
            await send(message)

        return guarded


def install(app: Starlette, settings: Settings) -> None:
    """Add the limiter to `app` (once), inside its request-context middleware so that the
    access log and the request counts see the 429, outside the exception handlers so that
    it sees every 401/403 they answer. Call before the app serves its first request."""
    if any(getattr(m, "cls", None) is AuthFailureLimiter for m in app.user_middleware):
        return
    budget = FailureBudget(settings.auth_fail_burst, settings.auth_fail_per_s)
    app.user_middleware.append(Middleware(AuthFailureLimiter, budget=budget))
