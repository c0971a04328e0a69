"""Ingest (docs/api.md): ack after commit, idempotent insert, batch results per item."""

from __future__ import annotations

import httpx

from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, count, detection, register


async def test_idempotent_insert_duplicate_and_conflict(backend: BackendProcess,
                                                        database_url: str) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-0001")
        first = await client.post("/api/detections", json=detection("edge-0001", 1),
                                  headers=bearer(token))
        assert first.status_code == 201, first.text
        assert first.json()["duplicate"] is False
        again = await client.post("/api/detections", json=detection("edge-0001", 1),
                                  headers=bearer(token))
        assert again.status_code == 200
        assert again.json() == {**first.json(), "duplicate": True}
        other = await client.post("/api/detections",
                                  json=detection("edge-0001", 1, model="other"),
                                  headers=bearer(token))
        assert other.status_code == 409
        assert other.json()["id"] == first.json()["id"]
    assert await count(database_url, "detections") == 1


async def test_batch_mixed_new_duplicate_invalid_conflict(backend: BackendProcess,
                                                          database_url: str) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-b")
        pre = await client.post("/api/detections", json=detection("edge-b", 2),
                                headers=bearer(token))
        assert pre.status_code == 201
        items = [
            detection("edge-b", 1),                        # new
            detection("edge-b", 2),                        # duplicate
            detection("edge-b", 3, detection_count=5),     # invalid
            detection("edge-b", 2, model="changed"),       # conflict
            detection("edge-b", 4),                        # new
            detection("edge-b", 4),                        # duplicate inside the batch
        ]
        resp = await client.post("/api/detections/batch", json={"items": items},
                                 headers=bearer(token))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert [r["status"] for r in body["results"]] == [201, 200, 422, 409, 201, 200]
        assert [r["index"] for r in body["results"]] == list(range(6))
        assert body["results"][1]["id"] == pre.json()["id"]
        assert "detection_count" in body["results"][2]["detail"]
        assert (body["created"], body["duplicates"], body["conflicts"], body["rejected"]) == (
            2, 2, 1, 1)
    assert await count(database_url, "detections") == 3
