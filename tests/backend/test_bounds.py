"""Bounded input and the Sentinel spec's shapes, on a live backend.

Past a limit the answer is 422 naming the field and the limit, and nothing is written;
the blackout routes take the spec's one-node ``node_id`` as well as ``node_ids``.
"""

from __future__ import annotations

import httpx

from sentinel_backend.launcher import BackendProcess
from sentinel_backend.schemas import MAX_ITEM_KEYS, MAX_STRING

from .helpers import bearer, count, detection, register


async def test_a_200000_character_label_is_refused_and_nothing_is_written(
        backend: BackendProcess, database_url: str) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-long")
        huge = detection("edge-long", 1, detections=[{"label": "x" * 200_000}])
        resp = await client.post("/api/detections", json=huge, headers=bearer(token))
        assert resp.status_code == 422, resp.text
        detail = resp.json()["detail"]
        assert "detections[0].label" in detail and str(MAX_STRING) in detail, detail

        batch = {"items": [huge, detection("edge-long", 2)]}
        resp = await client.post("/api/detections/batch", json=batch, headers=bearer(token))
        assert resp.status_code == 200, resp.text
        results = resp.json()["results"]
        assert results[0]["status"] == 422 and "label" in results[0]["detail"]
        assert results[1]["status"] == 201  # items are independent
        assert await count(database_url, "detections") == 1

        keys = detection("edge-long", 3,
                         detections=[{f"k{i}": i for i in range(MAX_ITEM_KEYS + 1)}])
        resp = await client.post("/api/detections", json=keys, headers=bearer(token))
        assert resp.status_code == 422 and str(MAX_ITEM_KEYS) in resp.json()["detail"]
        model = detection("edge-long", 4, model="m" * (MAX_STRING + 1))
        resp = await client.post("/api/detections", json=model, headers=bearer(token))
        assert resp.status_code == 422 and "model" in resp.json()["detail"]
        assert await count(database_url, "detections") == 1


async def test_node_strings_are_bounded_everywhere(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        enroll = bearer(backend.enrollment_key)
        resp = await client.post("/api/nodes/register", headers=enroll,
                                 json={"node_id": "edge-n", "name": "n" * (MAX_STRING + 1)})
        assert resp.status_code == 422 and "name" in resp.json()["detail"]
        resp = await client.post("/api/nodes/register", headers=enroll,
                                 json={"node_id": "edge-n", "name": "n" * MAX_STRING})
        assert resp.status_code == 201, resp.text
        token = resp.json()["token"]
        resp = await client.post("/api/nodes/edge-n/heartbeat", headers=bearer(token),
                                 json={"note": "x" * (MAX_STRING + 1)})
        assert resp.status_code == 422 and "body.note" in resp.json()["detail"]


async def test_blackout_takes_the_specs_single_node_shape(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        await register(client, backend, "edge-b1")
        await register(client, backend, "edge-b2")
        op = bearer(backend.operator_token)
        resp = await client.post("/api/blackout/activate", headers=op,
                                 json={"node_id": "edge-b1", "reason": "maintenance"})
        assert resp.status_code == 200, resp.text
        assert [b["node_id"] for b in resp.json()["blackouts"]] == ["edge-b1"]
        resp = await client.post("/api/blackout/activate", headers=op,
                                 json={"node_ids": ["edge-b2"], "reason": "maintenance"})
        assert [b["node_id"] for b in resp.json()["blackouts"]] == ["edge-b2"]
        resp = await client.post("/api/blackout/deactivate", headers=op,
                                 json={"node_id": "edge-b1", "node_ids": ["edge-b2"]})
        assert resp.status_code == 422 and "not both" in resp.json()["detail"]
        resp = await client.post("/api/blackout/deactivate", headers=op,
                                 json={"node_id": "edge-b1"})
        assert resp.status_code == 200, resp.text
        rows = resp.json()["blackouts"]
        assert [b["node_id"] for b in rows] == ["edge-b1"] and rows[0]["deactivated_at"]
        active = (await client.get("/api/blackout", headers=op)).json()["active"]
        assert [b["node_id"] for b in active] == ["edge-b2"]
        resp = await client.post("/api/blackout/activate", headers=op,
                                 json={"node_id": "nobody", "reason": "x"})
        assert resp.status_code == 404
