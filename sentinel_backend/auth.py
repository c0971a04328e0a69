"""Bearer tokens and roles (docs/api.md, "Roles and tokens").

Tokens are compared and stored as SHA-256 hashes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import asyncpg

__all__ = ["Principal", "TokenBook", "hash_token", "new_token"]

ROLES = ("enrollment", "node", "operator", "viewer")


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, and for a node token its node."""

    role: str
    node_id: str | None = None

    @property
    def actor(self) -> str:
        return f"node:{self.node_id}" if self.role == "node" else self.role


class TokenBook:
    """Resolves a bearer token to a :class:`Principal`.

    Node tokens live hashed in ``nodes.token_hash``; lookups are cached for `ttl_s` so the
    ingest hot path does not pay a query per request. A token rotated on this instance
    stops working at once; on other instances within `ttl_s`.
    """

    def __init__(self, enrollment_key: str, operator_token: str, viewer_token: str,
                 ttl_s: float = 1.0) -> None:
        self._static = {
            hash_token(enrollment_key): Principal("enrollment"),
            hash_token(operator_token): Principal("operator"),
            hash_token(viewer_token): Principal("viewer"),
        }
        self._ttl = ttl_s
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}
        # node id -> its cached digests, so that forget_node (every registration) is O(1),
        # not a scan of the whole cache (that scan was 80 % of a worker's CPU while 10,000
        # nodes registered).
        self._by_node: dict[str, set[bytes]] = {}
        # Cache misses wait here and are looked up together, one query at a time: at 10,000
        # nodes nearly every request misses the 1 s cache, and a query each was a quarter
        # of a worker's CPU.
        self._waiting: dict[bytes, asyncio.Future[str | None]] = {}
        self._lookups: asyncio.Task[None] | None = None

    async def _lookup(self, pool: asyncpg.Pool, digest: bytes) -> str | None:
        fut = self._waiting.get(digest)
        if fut is None:
            fut = self._waiting[digest] = asyncio.get_running_loop().create_future()
            if self._lookups is None or self._lookups.done():
                self._lookups = asyncio.create_task(self._lookup_groups(pool))
        return await asyncio.shield(fut)  # a caller that goes away does not cancel the others

    async def _lookup_groups(self, pool: asyncpg.Pool) -> None:
        await asyncio.sleep(0)  # let the requests parsed in this loop iteration join
        while self._waiting:
            group, self._waiting = self._waiting, {}
            try:
                rows = await pool.fetch(
                    "SELECT node_id, token_hash FROM nodes WHERE token_hash = ANY($1::bytea[])",
                    list(group))
            except BaseException as exc:
                for f in group.values():
                    if not f.done():
                        f.set_exception(exc)
                        f.exception()  # retrieved here too: no warning when no one waits
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            found = {bytes(r["token_hash"]): str(r["node_id"]) for r in rows}
            for digest, f in group.items():
                if not f.done():
                    f.set_result(found.get(digest))

    def forget_node(self, node_id: str) -> None:
        for key in self._by_node.pop(node_id, ()):
            self._cache.pop(key, None)

    async def resolve(self, pool: asyncpg.Pool, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._static.items():
            if hmac.compare_digest(known, digest):
                return principal
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        node_id = await self._lookup(pool, digest)
        found = Principal("node", node_id) if node_id is not None else None
        if len(self._cache) > 100_000:
            self._cache.clear()
            self._by_node.clear()
        self._cache[digest] = (now + self._ttl, found)
        if node_id is not None:
            self._by_node.setdefault(node_id, set()).add(digest)
        return found
