"""Failed authentication is slowed down: a burst of wrong tokens from one address gets 429,
while a client with a correct token beside it (same address: 127.0.0.1) is never refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from sentinel_backend._authlimit import CLOSE_TOO_MANY_FAILURES, FailureBudget
from sentinel_backend.launcher import BackendProcess

from .helpers import bearer, detection, register

# A small budget that earns back next to nothing while the test runs.
TIGHT = {"SENTINEL_AUTH_FAIL_BURST": "5", "SENTINEL_AUTH_FAIL_PER_S": "0.01"}


async def _ws_close_code(url: str) -> int | None:
    """The close code of a stream connection that should be refused (None: it was not)."""
    try:
        async with websockets.connect(url, open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None
    return None


async def _hello(url: str) -> dict[str, Any]:
    async with websockets.connect(url, open_timeout=10) as ws:
        hello: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        return hello


def test_a_burst_of_wrong_tokens_gets_429_while_correct_tokens_beside_it_succeed(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env=TIGHT)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=backend.url, timeout=10) as client:
            token = await register(client, backend, "edge-good")
            statuses: list[int] = []
            good: list[int] = []
            for i in range(20):
                wrong = await client.post("/api/detections", json=detection("edge-good", i + 1),
                                          headers=bearer(f"node_wrong-{i}"))
                statuses.append(wrong.status_code)
                if wrong.status_code == 429:
                    assert int(wrong.headers["retry-after"]) >= 1
                    assert "failed authentications" in wrong.json()["detail"]
                ok = await client.post("/api/detections", json=detection("edge-good", i + 1),
                                       headers=bearer(token))
                good.append(ok.status_code)
            assert statuses[:5] == [401] * 5
            assert statuses[5:] == [429] * 15
            assert good == [201] * 20  # never refused, never slowed into a 429
            beat = await client.post("/api/nodes/edge-good/heartbeat", json={},
                                     headers=bearer(token))
            assert beat.status_code == 200
            # Enrollment: a wrong key is refused with 429 now, the right key still registers.
            wrong_key = await client.post("/api/nodes/register", json={"node_id": "edge-x"},
                                          headers=bearer("enr_guess"))
            assert wrong_key.status_code == 429
            await register(client, backend, "edge-second")
        # The stream: a wrong ?token= is closed 4429 past the budget, the viewer's works.
        assert await _ws_close_code(f"{backend.ws_url}?token=view_guess") \
            == CLOSE_TOO_MANY_FAILURES
        hello = await _hello(f"{backend.ws_url}?token={backend.viewer_token}")
        assert hello["type"] == "hello"

    asyncio.run(scenario())


def test_the_same_wrong_token_retried_is_one_failure_not_a_burst(
        backend_factory: Callable[..., BackendProcess]) -> None:
    """A node whose token the backend forgot retries with it: it must keep seeing 401 (and
    register again), never a 429 that would hide why it is refused."""
    backend = backend_factory(env=TIGHT)

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=backend.url, timeout=10) as client:
            answers = [(await client.post("/api/detections", json=detection("edge-a", i + 1),
                                          headers=bearer("node_stale"))).status_code
                       for i in range(30)]
            assert answers == [401] * 30
            codes = [await _ws_close_code(f"{backend.ws_url}?token=view_stale")
                     for _ in range(8)]
            assert codes == [4401] * 8

    asyncio.run(scenario())


def test_a_zero_burst_turns_the_limit_off(
        backend_factory: Callable[..., BackendProcess]) -> None:
    backend = backend_factory(env={"SENTINEL_AUTH_FAIL_BURST": "0"})

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=backend.url, timeout=10) as client:
            answers = {(await client.get("/api/nodes", headers=bearer(f"guess-{i}"))
                        ).status_code for i in range(30)}
            assert answers == {401}

    asyncio.run(scenario())


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_budget_refills_at_its_rate_and_forgets_old_addresses() -> None:
    clock = _Clock()
    budget = FailureBudget(2, 1.0, max_addresses=2, clock=clock)
    assert budget.charge("a", b"1") is None
    assert budget.charge("a", b"2") is None
    wait = budget.charge("a", b"3")
    assert wait is not None and wait == pytest.approx(1.0)
    assert budget.charge("a", b"3") is None  # a repeat: not charged again
    clock.now = 1.0
    assert budget.charge("a", b"4") is None  # one earned back
    assert budget.charge("a", b"5") is not None
    assert budget.charge("b", b"1") is None  # another address has its own bucket
    assert budget.charge("c", b"1") is None  # "a" is forgotten: bounded memory
    assert budget.charge("a", b"6") is None
