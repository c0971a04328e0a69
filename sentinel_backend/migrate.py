"""Versioned SQL migrations: ``migrations/NNNN_name.sql`` applied once each, in order.

Idempotent and safe with several instances starting at once: the whole run holds a
transaction-level advisory lock, and ``schema_migrations`` records what was applied.
"""

from __future__ import annotations

from importlib import resources

import asyncpg

__all__ = ["MIGRATION_LOCK_KEY", "apply_migrations", "available_migrations"]

#: Advisory lock key held while migrating (an arbitrary constant: "sentinel" + 1).
MIGRATION_LOCK_KEY = 0x5E171E01


def available_migrations() -> list[tuple[str, str]]:
    """``(version, sql)`` of every shipped migration, sorted by version."""
    folder = resources.files("sentinel_backend") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found)


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns the versions applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in available_migrations():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied_now.append(version)
    return applied_now


async def migrate_dsn(dsn: str) -> list[str]:
    """Connect to `dsn`, apply pending migrations, disconnect."""
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()
