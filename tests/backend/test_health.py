"""Health, readiness while the database goes away and comes back, metrics, migrations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import websockets

from sentinel_backend.launcher import BackendProcess
from sentinel_backend.migrate import apply_migrations, available_migrations
from sentinel_backend.pg import EmbeddedPostgres

from .helpers import bearer, detection, register


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A server of this test's own, since the test stops it."""
    pg = EmbeddedPostgres()
    pg.start()
    yield pg
    pg.stop(mode="immediate")


async def _wait_status(client: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    for _ in range(200):
        resp = await client.get(path)
        if resp.status_code == status:
            return resp
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never answered {status}")


async def test_ready_503_when_database_stops_and_200_when_back(
        own_postgres: EmbeddedPostgres, backend_factory: Any) -> None:
    backend: BackendProcess = backend_factory(own_postgres.dsn)
    async with httpx.AsyncClient(base_url=backend.url, timeout=10) as client:
        token = await register(client, backend, "edge-h")
        assert (await client.get("/health/ready")).status_code == 200
        early = await websockets.connect(f"{backend.ws_url}?token={backend.viewer_token}"
                                         "&since=0")
        early_seqs: list[int] = []
        while not early_seqs:  # replayed before the crash
            frame = orjson.loads(await asyncio.wait_for(early.recv(), 10))
            if frame["type"] == "events":
                early_seqs.extend(e["seq"] for e in frame["events"])
        own_postgres.kill(remove=False)  # a crash of the database server
        resp = await _wait_status(client, "/health/ready", 503)
        assert resp.headers["retry-after"]
        assert (await client.get("/health/live")).status_code == 200
        health = (await client.get("/health")).json()
        assert health["status"] == "degraded" and health["database"] is False
        ingest = await client.post("/api/detections", json=detection("edge-h", 1),
                                   headers=bearer(token))
        assert ingest.status_code == 503 and ingest.headers["retry-after"], ingest.text
        own_postgres.start()
        await _wait_status(client, "/health/ready", 200)
        for _ in range(100):
            ingest = await client.post("/api/detections", json=detection("edge-h", 1),
                                       headers=bearer(token))
            if ingest.status_code != 503:
                break
            await asyncio.sleep(0.1)
        assert ingest.status_code == 201, ingest.text
        # The stream recovers too: the sequencer and the hub reconnect.
        url = f"{backend.ws_url}?token={backend.viewer_token}&since=0"
        async with websockets.connect(url) as ws:
            seqs: list[int] = []
            while len(seqs) < 2:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "events":
                    seqs.extend(e["seq"] for e in frame["events"])
        assert seqs == [1, 2]
        # A client connected before the crash stayed connected and got the new event.
        while len(early_seqs) < 2:
            frame = orjson.loads(await asyncio.wait_for(early.recv(), 10))
            if frame["type"] == "events":
                early_seqs.extend(e["seq"] for e in frame["events"])
        await early.close()
        assert early_seqs == [1, 2]


async def test_metrics_and_openapi(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-m")
        await client.post("/api/detections", json=detection("edge-m", 1), headers=bearer(token))
        text = (await client.get("/metrics")).text
        for name in ("sentinel_detections_ingested_total", "sentinel_ingest_seconds",
                     "sentinel_ws_clients", "sentinel_sequencer_lag_events",
                     "sentinel_command_queue_depth"):
            assert name in text
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        resp = await client.get("/health/live", headers={"X-Request-ID": "abc"})
        assert resp.headers["x-request-id"] == "abc"


async def test_migrations_idempotent_and_concurrent(postgres: EmbeddedPostgres) -> None:
    admin = await asyncpg.connect(postgres.dsn)
    await admin.execute('CREATE DATABASE "migr_test"')
    try:
        conns = [await asyncpg.connect(postgres.dsn_for("migr_test")) for _ in range(3)]
        results = await asyncio.gather(*(apply_migrations(c) for c in conns))
        versions = [v for v, _ in available_migrations()]
        assert sorted(r for res in results for r in res) == versions  # applied exactly once
        assert await apply_migrations(conns[0]) == []
        for c in conns:
            await c.close()
    finally:
        await admin.execute('DROP DATABASE "migr_test" WITH (FORCE)')
        await admin.close()
