"""Helpers of the backend tests: detection payloads, registered nodes, DB checks."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from sentinel_backend.launcher import BackendProcess


def detection(node_id: str, seq: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "node_id": node_id,
        "seq": seq,
        "captured_at": "2026-11-22T10:00:00.123456+00:00",
        "location": {"latitude": 69.65, "longitude": 18.96, "altitude_m": 12.0,
                     "accuracy_m": 4.5},
        "detections": [{"label": "person", "confidence": 0.91, "bbox": [0.1, 0.2, 0.3, 0.4],
                        "track_id": 7}],
        "detection_count": 1,
        "inference_time_ms": 23.5,
        "model": "yolov8n",
    }
    body.update(over)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: httpx.AsyncClient, backend: BackendProcess, node_id: str) -> str:
    resp = await client.post("/api/nodes/register", json={"node_id": node_id},
                             headers=bearer(backend.enrollment_key))
    assert resp.status_code in (200, 201), resp.text
    token: str = resp.json()["token"]
    return token


async def count(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
        return value
    finally:
        await conn.close()
