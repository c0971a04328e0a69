"""Commands and blackout (docs/api.md): the persistent command queue and the blackout log."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, register


async def _command(client: httpx.AsyncClient, backend: BackendProcess, node_id: str,
                   ctype: str = "ping") -> int:
    resp = await client.post("/api/commands", headers=bearer(backend.operator_token),
                             json={"node_id": node_id, "type": ctype, "payload": {"n": 1}})
    assert resp.status_code == 201, resp.text
    cid: int = resp.json()["id"]
    return cid


async def test_no_double_claim_under_concurrent_workers(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        token = await register(client, backend, "edge-c")
        created = {await _command(client, backend, "edge-c") for _ in range(60)}

        async def poll() -> list[int]:
            resp = await client.get("/api/nodes/edge-c/commands", headers=bearer(token))
            assert resp.status_code == 200
            return [c["id"] for c in resp.json()["commands"]]

        claims = await asyncio.gather(*(poll() for _ in range(12)))
        claimed = [cid for batch in claims for cid in batch]
        assert len(claimed) == len(set(claimed))
        assert set(claimed) == created
        again = await poll()  # delivered, not acked, ack timeout (10 s) not passed yet
        assert again == []


async def test_backoff_schedule_and_failed_after_max_attempts(
        backend_factory: Any, database_url: str) -> None:
    backend = backend_factory(env={"SENTINEL_COMMAND_ACK_TIMEOUT_S": "0.2",
                                   "SENTINEL_COMMAND_MAX_ATTEMPTS": "3"})
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-k")
        cid = await _command(client, backend, "edge-k")
        attempts = []
        conn = await asyncpg.connect(database_url)
        try:
            for _ in range(200):
                resp = await client.get("/api/nodes/edge-k/commands", headers=bearer(token))
                for c in resp.json()["commands"]:
                    attempts.append(c["attempt"])
                    row = await conn.fetchrow(
                        "SELECT extract(epoch FROM next_attempt_at - delivered_at) AS wait "
                        "FROM node_commands WHERE id = $1", cid)
                    # exponential backoff: ack timeout * 2^(attempt-1)
                    assert abs(float(row["wait"]) - 0.2 * 2 ** (c["attempt"] - 1)) < 1e-6
                status = await conn.fetchval(
                    "SELECT status FROM node_commands WHERE id = $1", cid)
                if status == "failed":
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert attempts == [1, 2, 3]
        assert status == "failed"


async def test_ack_and_queue_survives_backend_restart(backend: BackendProcess) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-r")
        cid = await _command(client, backend, "edge-r")
    backend.restart(kill=True)  # kill -9, then start again on the same database
    async with httpx.AsyncClient(base_url=backend.url) as client:
        resp = await client.get("/api/nodes/edge-r/commands", headers=bearer(token))
        assert [c["id"] for c in resp.json()["commands"]] == [cid]
        ack = await client.post(f"/api/nodes/edge-r/commands/{cid}/ack",
                                headers=bearer(token), json={"ok": True})
        assert ack.status_code == 200 and ack.json()["status"] == "acked"


async def test_blackout_log_rows_and_commands(backend: BackendProcess,
                                              database_url: str) -> None:
    op = bearer(backend.operator_token)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-x")
        await register(client, backend, "edge-y")
        on = await client.post("/api/blackout/activate", headers=op,
                               json={"node_ids": ["edge-x", "edge-y"], "reason": "drill"})
        assert on.status_code == 200, on.text
        rows = on.json()["blackouts"]
        assert {r["node_id"] for r in rows} == {"edge-x", "edge-y"}
        assert all(r["activated_by"] == "operator" and r["reason"] == "drill"
                   and r["deactivated_at"] is None for r in rows)
        status = await client.get("/api/nodes/edge-x/status", headers=bearer(token))
        assert status.json()["status"] == "covert" and status.json()["blackout"] is True
        cmds = (await client.get("/api/nodes/edge-x/commands", headers=bearer(token))).json()
        assert [c["type"] for c in cmds["commands"]] == ["blackout_on"]
        await client.post(f"/api/nodes/edge-x/commands/{cmds['commands'][0]['id']}/ack",
                          headers=bearer(token), json={"ok": True})
        off = await client.post("/api/blackout/deactivate", headers=op,
                                json={"node_ids": ["edge-x"]})
        assert off.json()["blackouts"][0]["deactivated_at"] is not None
        cmds = (await client.get("/api/nodes/edge-x/commands", headers=bearer(token))).json()
        assert [c["type"] for c in cmds["commands"]] == ["blackout_off"]
        ack = await client.post(
            f"/api/nodes/edge-x/commands/{cmds['commands'][0]['id']}/ack",
            headers=bearer(token), json={"ok": True, "result": {"queued": 42}})
        assert ack.status_code == 200
        listing = (await client.get("/api/blackout",
                                    headers=bearer(backend.viewer_token))).json()
        assert [r["node_id"] for r in listing["active"]] == ["edge-y"]
        x_row = next(r for r in listing["log"] if r["node_id"] == "edge-x")
        assert x_row["detections_queued"] == 42 and x_row["deactivated_at"] is not None
    conn = await asyncpg.connect(database_url)
    try:
        actions = [r["action"] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE target = 'edge-x' ORDER BY id")]
        assert "blackout.activate" in actions and "blackout.deactivate" in actions
        types = [r["type"] for r in await conn.fetch(
            "SELECT type FROM stream_events WHERE type = 'blackout'")]
        assert len(types) == 3
        try:
            await conn.execute("DELETE FROM audit_log")
            raise AssertionError("audit_log accepted a DELETE")
        except asyncpg.RaiseError as exc:
            assert "append-only" in str(exc)
    finally:
        await conn.close()


async def test_node_goes_offline_without_heartbeat_and_back(backend_factory: Any) -> None:
    backend = backend_factory(env={"SENTINEL_OFFLINE_AFTER_S": "0.4"})
    async with httpx.AsyncClient(base_url=backend.url) as client:
        token = await register(client, backend, "edge-q")
        viewer = bearer(backend.viewer_token)
        for _ in range(100):
            status = (await client.get("/api/nodes/edge-q/status", headers=viewer)).json()
            if status["status"] == "offline":
                break
            await asyncio.sleep(0.05)
        assert status["status"] == "offline"
        beat = await client.post("/api/nodes/edge-q/heartbeat", headers=bearer(token),
                                 json={"outbox_depth": 3})
        assert beat.status_code == 200
        assert beat.json()["status"] == "online" and beat.json()["blackout"] is False
        nodes = (await client.get("/api/nodes", headers=viewer)).json()["nodes"]
        assert [n["node_id"] for n in nodes] == ["edge-q"]
