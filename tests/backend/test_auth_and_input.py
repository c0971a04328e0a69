"""Contracts 5 and 6: the auth matrix and the bad-input matrix (status + nothing written)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx
import pytest

from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, count, detection, register

TABLES = ("detections", "stream_events", "node_commands", "blackout_events")


async def _snapshot(dsn: str) -> dict[str, int]:
    return {t: await count(dsn, t) for t in TABLES}


async def test_auth_matrix(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        node_a = await register(client, backend, "edge-a")
        await register(client, backend, "edge-b")
        tokens = {"none": None, "bogus": "not-a-token", "enrollment": backend.enrollment_key,
                  "viewer": backend.viewer_token, "operator": backend.operator_token,
                  "node_a": node_a}
        cases: list[tuple[str, str, Any, dict[str, int]]] = [
            # method, path, json, expected status per token
            ("POST", "/api/detections", detection("edge-a", 1),
             {"none": 401, "bogus": 401, "enrollment": 403, "viewer": 403, "operator": 403}),
            ("POST", "/api/detections", detection("edge-b", 1), {"node_a": 403}),
            ("POST", "/api/detections/batch", {"items": [detection("edge-b", 1)]},
             {"node_a": 403, "viewer": 403, "none": 401}),
            ("GET", "/api/detections", None,
             {"none": 401, "bogus": 401, "node_a": 403, "enrollment": 403, "viewer": 200,
              "operator": 200}),
            ("POST", "/api/blackout/activate", {"node_ids": ["edge-b"], "reason": "x"},
             {"none": 401, "viewer": 403, "node_a": 403, "enrollment": 403}),
            ("GET", "/api/blackout", None, {"viewer": 200, "node_a": 403}),
            ("POST", "/api/nodes/register", {"node_id": "edge-z"},
             {"none": 401, "viewer": 403, "operator": 403, "node_a": 403}),
            ("POST", "/api/nodes/edge-b/heartbeat", {}, {"node_a": 403, "viewer": 403}),
            ("POST", "/api/nodes/edge-a/heartbeat", {}, {"node_a": 200}),
            ("GET", "/api/nodes/edge-b/commands", None, {"node_a": 403, "operator": 403}),
            ("GET", "/api/nodes/edge-b/status", None, {"node_a": 403, "viewer": 200}),
            ("GET", "/api/nodes", None, {"viewer": 200, "node_a": 403, "none": 401}),
            ("POST", "/api/commands", {"node_id": "edge-b", "type": "x", "payload": {}},
             {"viewer": 403, "node_a": 403}),
        ]
        for method, path, body, expected in cases:
            for who, status in expected.items():
                token = tokens[who]
                resp = await client.request(method, path, json=body,
                                            headers=bearer(token) if token else {})
                assert resp.status_code == status, (method, path, who, resp.text)
                if status >= 400:
                    assert resp.json()["detail"]
        # Re-registration rotates the token: the old one stops working.
        await register(client, backend, "edge-a")
        resp = await client.post("/api/detections", json=detection("edge-a", 1),
                                 headers=bearer(node_a))
        assert resp.status_code == 401


def _bad_detections() -> list[tuple[str, Any]]:
    good = detection("edge-i", 1)
    cases: list[tuple[str, Any]] = [
        ("not an object", [1, 2]),
        ("missing node_id", {k: v for k, v in good.items() if k != "node_id"}),
        ("missing location", {k: v for k, v in good.items() if k != "location"}),
        ("seq string", {**good, "seq": "1"}),
        ("seq zero", {**good, "seq": 0}),
        ("seq bool", {**good, "seq": True}),
        ("seq too big", {**good, "seq": 2**64}),
        ("latitude out of range", {**good, "location": {"latitude": 91, "longitude": 0}}),
        ("longitude out of range", {**good, "location": {"latitude": 0, "longitude": -181}}),
        ("latitude string", {**good, "location": {"latitude": "1", "longitude": 0}}),
        ("count mismatch", {**good, "detection_count": 2}),
        ("detections not list", {**good, "detections": {}}),
        ("too many detections", {**good, "detections": [{}] * 257, "detection_count": 257}),
        ("NUL in label", {**good, "detections": [{"label": "a\x00b"}]}),
        ("NUL in key", {**good, "detections": [{"a\x00": 1}]}),
        ("NUL in model", {**good, "model": "m\x00"}),
        ("naive captured_at", {**good, "captured_at": "2026-11-22T10:00:00"}),
        ("garbage captured_at", {**good, "captured_at": "yesterday"}),
        ("captured_at past year 9999 in UTC",
         {**good, "captured_at": "9999-12-31T23:59:59-14:00"}),
        ("bad event_id", {**good, "event_id": "not-a-uuid"}),
        ("negative inference time", {**good, "inference_time_ms": -1}),
        ("node_id with slash", {**good, "node_id": "a/b"}),
    ]
    return cases


RAW_BODIES = [
    ("NaN literal", b'{"node_id": "edge-i", "seq": 1, "x": NaN}'),
    ("Infinity literal", b'{"node_id": "edge-i", "seq": Infinity}'),
    ("overflowing float", b'{"node_id": "edge-i", "seq": 1e999}'),
    ("truncated JSON", b'{"node_id": "edge-i", "seq": 1'),
    ("empty body", b""),
    ("invalid UTF-8", b'{"node_id": "\xff\xfe"}'),
    ("lone surrogate", b'{"node_id": "edge-i", "model": "\\ud800"}'),
    ("deep nesting", b'{"a":' * 2000 + b"1" + b"}" * 2000),
]


async def test_bad_input_matrix(backend: BackendProcess, database_url: str) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-i")
        before = await _snapshot(database_url)
        auth = {**bearer(token), "Content-Type": "application/json"}
        for name, body in _bad_detections():
            for path, payload in (("/api/detections", body),
                                  ("/api/detections/batch", {"items": [body]})):
                resp = await client.post(path, json=payload, headers=auth)
                if path.endswith("batch"):
                    assert resp.status_code == 200, (name, resp.text)
                    result = resp.json()["results"][0]
                    assert result["status"] == 422 and result["detail"], name
                else:
                    assert resp.status_code == 422, (name, resp.status_code, resp.text)
                    assert resp.json()["detail"], name
        for name, raw in RAW_BODIES:
            resp = await client.post("/api/detections", content=raw, headers=auth)
            assert 400 <= resp.status_code < 500, (name, resp.text)
            assert resp.json()["detail"], name
        big = b'{"pad": "' + b"x" * (1 << 20) + b'"}'
        resp = await client.post("/api/detections", content=big, headers=auth)
        assert resp.status_code == 413

        async def chunks() -> Any:
            for _ in range(20):
                yield b"x" * 65536

        resp = await client.post("/api/detections", content=chunks(), headers=auth)
        assert resp.status_code == 413
        batch_cases: list[Any] = [{"items": []}, {"items": "x"}, {},
                                  {"items": [detection("edge-i", 1)] * 1001}]
        for body in batch_cases:
            resp = await client.post("/api/detections/batch", json=body, headers=auth)
            assert resp.status_code in (413, 422), resp.text
        op = bearer(backend.operator_token)
        for body in ({"node_ids": ["nope"], "reason": "x"}, {"node_ids": [], "reason": "x"},
                     {"node_ids": ["edge-i"]}, {"node_ids": "edge-i", "reason": "x"},
                     {"node_ids": ["edge-i"], "reason": "a\x00"}):
            resp = await client.post("/api/blackout/activate", json=body, headers=op)
            assert resp.status_code in (404, 422), (body, resp.text)
        viewer = bearer(backend.viewer_token)
        for query in ("limit=0", "limit=1001", "limit=x", "after_seq=-1", "cursor=@@@",
                      "captured_from=yesterday", "node_id=a/b", "captured_to=2026-01-01"):
            resp = await client.get(f"/api/detections?{query}", headers=viewer)
            assert resp.status_code == 400, (query, resp.text)
        for path, body in (("/api/nodes/edge-i/heartbeat", {"status": "asleep"}),
                           ("/api/nodes/edge-i/heartbeat", {"outbox_depth": -1}),
                           ("/api/nodes/edge-i/commands/abc/ack", {"ok": True}),
                           ("/api/nodes/edge-i/commands/999/ack", {"ok": True}),
                           ("/api/nodes/edge-i/commands/1/ack", {"ok": "yes"})):
            resp = await client.post(path, json=body, headers=bearer(token))
            assert resp.status_code in (400, 404, 422), (path, resp.text)
        for path in ("/api/nodes/a%00b/status", "/api/nodes/" + "x" * 300 + "/status"):
            resp = await client.get(path, headers=viewer)
            assert resp.status_code == 404, (path, resp.text)
        assert await _snapshot(database_url) == before
        health = await client.get("/health")
        assert health.status_code == 200 and health.json()["database"] is True


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_orjson_refuses_non_finite(value: float) -> None:
    from sentinel_backend.validation import Invalid, check_clean

    with pytest.raises(Invalid):
        check_clean({"x": [value]}, "detection")


async def test_list_detections_keyset_pagination(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-p")
        items = [detection("edge-p", s) for s in range(1, 26)]
        await client.post("/api/detections/batch", json={"items": items}, headers=bearer(token))
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            query = "/api/detections?node_id=edge-p&limit=10" + (
                f"&cursor={cursor}" if cursor else "")
            page = (await client.get(query, headers=bearer(backend.viewer_token))).json()
            seen.extend(i["seq"] for i in page["items"])
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(range(1, 26)) and pages == 3
        first = page["items"][0]
        assert {"id", "stream_seq", "committed_at", "captured_at"} <= set(first)
        for _ in range(100):  # wait until the sequencer stamped everything
            page = (await client.get("/api/detections?limit=1000",
                                     headers=bearer(backend.viewer_token))).json()
            if all(i["stream_seq"] is not None for i in page["items"]):
                break
            await asyncio.sleep(0.05)
        cut = page["items"][9]["stream_seq"]
        after = (await client.get(f"/api/detections?after_seq={cut}&limit=1000",
                                  headers=bearer(backend.viewer_token))).json()
        assert [i["stream_seq"] for i in after["items"]] == [
            i["stream_seq"] for i in page["items"][10:]]
