"""Bearer tokens and roles (contract 5). Tokens are compared and stored as SHA-256 hashes."""

from __future__ import annotations

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

    def forget_node(self, node_id: str) -> None:
        for key, (_, principal) in list(self._cache.items()):
            if principal is not None and principal.node_id == node_id:
                del self._cache[key]

    async def resolve(self, pool: asyncpg.Pool, token: str) -> Principal | None:
        digest = hash_token(token)
        for known, principal in self._static.items():
            if hmac.compare_digest(known, digest):
                return principal
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        node_id = await pool.fetchval("SELECT node_id FROM nodes WHERE token_hash = $1", digest)
        found = Principal("node", node_id) if node_id is not None else None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, found)
        return found
