"""Detections posted to the real backend, one node, remembering what was acked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
import httpx

from chaos.stack import Stack


def detection(node_id: str, seq: int) -> dict[str, object]:
    return {"node_id": node_id, "seq": seq, "captured_at": "2026-11-22T10:00:00+00:00",
            "location": {"latitude": 69.65, "longitude": 18.96},
            "detections": [{"label": "person", "confidence": 0.9, "bbox": [0.1, 0.2, 0.3, 0.4]}],
            "detection_count": 1, "inference_time_ms": 20.0, "model": "yolov8n"}


@dataclass
class Node:
    """One edge node posting straight to the backend; ``statuses`` counts every answer."""

    stack: Stack
    node_id: str
    token: str = ""
    acked: set[int] = field(default_factory=set)
    statuses: dict[str, int] = field(default_factory=dict)

    async def register(self, client: httpx.AsyncClient) -> None:
        for _ in range(100):  # the database may be coming back
            resp = await client.post(
                "/api/nodes/register", json={"node_id": self.node_id},
                headers={"Authorization": f"Bearer {self.stack.enrollment_key}"})
            if resp.status_code in (200, 201):
                self.token = resp.json()["token"]
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"register: {resp.status_code} {resp.text}")

    async def post(self, client: httpx.AsyncClient, seq: int) -> bool:
        """One attempt; True if acked (201, or 200 for a retry of a stored one)."""
        try:
            resp = await client.post("/api/detections", json=detection(self.node_id, seq),
                                     headers={"Authorization": f"Bearer {self.token}"})
            key = str(resp.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if key in ("200", "201"):
            self.acked.add(seq)
            return True
        return False

    async def post_until_acked(self, client: httpx.AsyncClient, seq: int,
                               attempts: int = 300) -> None:
        for _ in range(attempts):
            if await self.post(client, seq):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"seq {seq} never acked: {self.statuses}")

    async def stored(self) -> set[int]:
        conn = await asyncpg.connect(self.stack.database_url, timeout=10)
        try:
            rows = await conn.fetch("SELECT seq FROM detections WHERE node_id = $1",
                                    self.node_id)
        finally:
            await conn.close()
        return {int(r["seq"]) for r in rows}
