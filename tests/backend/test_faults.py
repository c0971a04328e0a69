"""The planted faults of ``sentinel_backend/faults.py`` on the real backend: each does the
misbehaviour it promises (so a self-test that does not catch it is the harness's fault),
and none of them is on by default."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import httpx
import orjson
import pytest
import websockets

from sentinel_backend.faults import FAULT_VARIABLES, PlantedFaults
from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, count, detection, register


def test_every_fault_is_off_by_default_and_each_variable_turns_one_on() -> None:
    assert not PlantedFaults.from_env({}).active
    for name, variable in FAULT_VARIABLES.items():
        faults = PlantedFaults.from_env({variable: "1"})
        assert faults.active and getattr(faults, name), variable
        assert PlantedFaults.from_env({variable: "0"}) == PlantedFaults()


async def _rows(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


def test_no_idempotency_stores_a_retry_again(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_FAULT_NO_IDEMPOTENCY": "1"})

    async def go() -> list[int]:
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
            token = await register(client, backend, "n-1")
            statuses = []
            for _ in range(2):
                resp = await client.post("/api/detections", json=detection("n-1", 1),
                                         headers=bearer(token))
                statuses.append(resp.status_code)
            return statuses

    assert asyncio.run(go()) == [201, 201]
    assert asyncio.run(count(backend.database_url, "detections")) == 2


def test_ack_before_commit_answers_while_the_row_is_not_yet_visible(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_FAULT_ACK_BEFORE_COMMIT": "3000"})

    async def go() -> tuple[int, int]:
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
            token = await register(client, backend, "n-1")
            resp = await client.post("/api/detections", json=detection("n-1", 1),
                                     headers=bearer(token))
            return resp.status_code, await count(backend.database_url, "detections")

    assert asyncio.run(go()) == (201, 0)


def _blackout(backend: BackendProcess, env_node: str = "n-1") -> tuple[str, list[str]]:
    """Register a node, black it out; its token and the command types it can claim."""

    async def go() -> tuple[str, list[str]]:
        async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
            token = await register(client, backend, env_node)
            resp = await client.post("/api/blackout/activate",
                                     json={"node_ids": [env_node], "reason": "drill"},
                                     headers=bearer(backend.operator_token))
            assert resp.status_code == 200, resp.text
            claimed = await client.get(f"/api/nodes/{env_node}/commands",
                                       headers=bearer(token))
            return token, [c["type"] for c in claimed.json()["commands"]]

    return asyncio.run(go())


def test_blackout_undelivered_never_hands_blackout_on_to_the_node(
        backend_factory: Callable[..., BackendProcess]) -> None:
    clean = backend_factory()
    assert _blackout(clean)[1] == ["blackout_on"]
    faulty = backend_factory(env={"SENTINEL_FAULT_BLACKOUT_UNDELIVERED": "1"})
    assert _blackout(faulty, "n-2")[1] == []


def test_audit_drop_discards_audit_rows(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_FAULT_AUDIT_DROP_ONE_IN": "1"})
    _blackout(backend)
    rows = asyncio.run(_rows(backend.database_url,
                             "SELECT action FROM audit_log WHERE action LIKE 'blackout.%'"))
    assert rows == []


def test_audit_separate_tx_writes_the_row_later(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_FAULT_AUDIT_SEPARATE_TX": "1500"})
    sql = "SELECT action FROM audit_log WHERE action = 'blackout.activate'"
    _blackout(backend)
    assert asyncio.run(_rows(backend.database_url, sql)) == []

    async def later() -> int:
        for _ in range(100):  # bounded: 10 s at most
            if await _rows(backend.database_url, sql):
                return 1
            await asyncio.sleep(0.1)
        return 0

    assert asyncio.run(later()) == 1


@pytest.mark.parametrize(("setting", "check"), [
    ("SENTINEL_FAULT_STREAM_ALTER_ONE_IN", "altered"),
    ("SENTINEL_FAULT_PHANTOM_ONE_IN", "phantom"),
])
def test_the_fanout_alters_or_invents_detection_events(
        backend_factory: Callable[..., BackendProcess], setting: str, check: str) -> None:
    backend = backend_factory(env={setting: "1"})

    async def go() -> list[dict[str, object]]:
        url = f"{backend.ws_url}?token={backend.viewer_token}"
        async with websockets.connect(url, max_size=None) as ws, \
                httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
            hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            assert hello["type"] == "hello"
            token = await register(client, backend, "n-1")
            resp = await client.post("/api/detections", json=detection("n-1", 1),
                                     headers=bearer(token))
            assert resp.status_code == 201
            got: list[dict[str, object]] = []
            for _ in range(50):  # bounded: frames until the detection (and its phantom)
                frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                got += [e for e in frame.get("events", []) if e["type"] == "detection"]
                if len(got) >= (2 if check == "phantom" else 1):
                    return got
            return got

    events = asyncio.run(go())
    data = [e["data"] for e in events]
    assert isinstance(data[0], dict)
    if check == "altered":
        assert data[0]["detections"] != detection("n-1", 1)["detections"]
    else:
        assert isinstance(data[1], dict)
        assert data[1]["node_id"] == "n-1" and int(str(data[1]["seq"])) > 1_000_000
        assert events[1]["seq"] == int(str(events[0]["seq"])) + 1
