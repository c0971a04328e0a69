"""Several instances behind one database; overload answered with 429 + Retry-After."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import websockets

from .helpers import bearer, count, detection, register


async def test_two_instances_one_stream(backend_factory: Any, database_url: str) -> None:
    a = backend_factory()
    b = backend_factory(enrollment_key=a.enrollment_key, operator_token=a.operator_token,
                        viewer_token=a.viewer_token)
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as ca, \
            httpx.AsyncClient(base_url=b.url, timeout=30) as cb:
        tokens = [await register(ca, a, f"n-{i}") for i in range(4)]  # seqs 1..4
        url = f"{b.ws_url}?token={b.viewer_token}&since=0"
        async with websockets.connect(url) as ws:
            await ws.recv()

            async def write(i: int) -> None:
                client = ca if i % 2 else cb
                for seq in range(1, 31):
                    resp = await client.post("/api/detections", json=detection(f"n-{i}", seq),
                                             headers=bearer(tokens[i]))
                    assert resp.status_code == 201

            await asyncio.gather(*(write(i) for i in range(4)))
            seqs: list[int] = []
            while len(seqs) < 124:
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] == "events":
                    seqs.extend(e["seq"] for e in frame["events"])
    assert seqs == list(range(1, 125))
    assert await count(database_url, "detections") == 120


async def test_overload_answers_429_with_retry_after(backend_factory: Any,
                                                     database_url: str) -> None:
    backend = backend_factory(env={"SENTINEL_INGEST_QUEUE_MAX": "1",
                                   "SENTINEL_GROUP_COMMIT_MAX": "1"})
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        token = await register(client, backend, "edge-o")
        resps = await asyncio.gather(*(
            client.post("/api/detections", json=detection("edge-o", s), headers=bearer(token))
            for s in range(1, 81)))
    codes = [r.status_code for r in resps]
    assert set(codes) <= {201, 429}, codes
    assert 429 in codes
    assert all(r.headers.get("retry-after") for r in resps if r.status_code == 429)
    assert await count(database_url, "detections") == codes.count(201)
