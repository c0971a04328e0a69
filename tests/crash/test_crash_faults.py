"""Crash-class faults on the real stack: PostgreSQL on the lazy filesystem, Toxiproxy's
``database`` proxy between the backend and it, real processes killed, stopped, continued."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import psutil
import pytest

from chaos.runner import RunContext
from chaos.runner.adapters import FleetIds
from chaos.scenario import load_scenario_text
from chaos.scenario.context import missing_capability
from chaos.scenario.steps import Link
from chaos.scenario.steps.cut import Cut
from chaos.stack import Stack, StackBackend, StackDatabase, StackOptions, unavailable_faults
from chaos.toxiproxy import AsyncToxiproxyControl, StepToxiproxy

from ._traffic import Node

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fuse")]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with Stack(StackOptions(power_cut=True, l3_links=())) as running:
        assert running.lazyfs is not None, running.power_cut_reason
        yield running


@contextlib.asynccontextmanager
async def _context(stack: Stack) -> AsyncIterator[RunContext]:
    control = AsyncToxiproxyControl(stack.toxiproxy_url)
    try:
        yield RunContext(fleet=FleetIds(()), toxiproxy=StepToxiproxy(control),
                         backend=StackBackend(stack), database=StackDatabase(stack),
                         unavailable=unavailable_faults(stack))
    finally:
        await control.aclose()


def _action(spec: str):  # type: ignore[no-untyped-def]
    text = f"name: t\nduration: 30s\nsteps:\n  - {{at: 0s, for: 1s, {spec}}}\n"
    return load_scenario_text(text, "t.yaml").steps[0].action


async def test_a_power_cut_loses_nothing_acked(stack: Stack) -> None:
    node = Node(stack, "edge-power")
    async with _context(stack) as ctx:
        assert missing_capability(ctx, "database.power_cut") is None
        async with httpx.AsyncClient(base_url=stack.backend_url, timeout=10) as client:
            await node.register(client)
            for seq in range(1, 41):
                await node.post_until_acked(client, seq)
            action = _action("power_cut: {}")
            assert stack.lazyfs is not None
            before = stack.lazyfs.stats()
            await action.start(ctx)
            assert stack.postgres is not None and stack.postgres.pid is None
            for seq in range(41, 46):  # the database is gone: nothing may be acked
                assert not await node.post(client, seq)
            await action.stop(ctx)
            for seq in range(41, 61):
                await node.post_until_acked(client, seq)
        print(f"pending before the cut: {before}; answers: {node.statuses}")
        assert before["pending_pages"] > 0  # the cut really threw unsynced writes away
        assert node.acked == set(range(1, 61))
        assert node.acked <= await node.stored()


async def test_kill_db_kills_every_database_process_and_restarts_on_the_same_data(
        stack: Stack) -> None:
    node = Node(stack, "edge-kill")
    async with _context(stack) as ctx:
        assert stack.postgres is not None and stack.postgres.pid is not None
        tree = psutil.Process(stack.postgres.pid)
        pids = [tree.pid, *(c.pid for c in tree.children(recursive=True))]
        assert len(pids) > 3  # postmaster, checkpointer, walwriter, ...
        async with httpx.AsyncClient(base_url=stack.backend_url, timeout=10) as client:
            await node.register(client)
            await node.post_until_acked(client, 1)
            action = _action("kill_db: {}")
            await action.start(ctx)
            assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
                           for pid in pids)
            assert not await node.post(client, 2)
            await action.stop(ctx)
            await node.post_until_acked(client, 2)
        assert await node.stored() == {1, 2}


async def test_pause_backend_freezes_it_and_resumes_it(stack: Stack) -> None:
    async with _context(stack) as ctx:
        assert stack.backend is not None and stack.backend.pid is not None
        action = _action("pause_backend: {}")
        await action.start(ctx)
        try:
            assert psutil.Process(stack.backend.pid).status() == psutil.STATUS_STOPPED
            with pytest.raises(httpx.TimeoutException):  # the socket accepts, nothing answers
                httpx.get(stack.backend_url + "/health/live", timeout=1.0)
        finally:
            await action.stop(ctx)
        assert httpx.get(stack.backend_url + "/health/live", timeout=10).status_code == 200


async def test_a_database_link_cut_answers_503_and_loses_nothing(stack: Stack) -> None:
    node = Node(stack, "edge-link")
    async with _context(stack) as ctx:
        action = Cut(link=Link(name="database", proxy="database"))
        async with httpx.AsyncClient(base_url=stack.backend_url, timeout=15) as client:
            await node.register(client)
            for seq in range(1, 11):
                await node.post_until_acked(client, seq)
            await action.start(ctx)
            try:
                for seq in range(11, 21):
                    await node.post(client, seq)
            finally:
                await action.stop(ctx)
            for seq in range(11, 31):
                await node.post_until_acked(client, seq)
        print(f"answers: {node.statuses}")
        assert node.statuses.get("503", 0) >= 1
        assert node.acked == set(range(1, 31)) and await node.stored() == node.acked


def test_the_stack_says_why_without_power_cuts() -> None:
    stack = Stack(StackOptions(l3_links=()))
    assert stack.power_cut_reason and unavailable_faults(stack)
    ctx = RunContext(fleet=FleetIds(()), database=StackDatabase(stack),
                     unavailable=unavailable_faults(stack))
    assert missing_capability(ctx, "database.power_cut") == stack.power_cut_reason
    assert missing_capability(ctx, "database") is None
    asyncio.run(asyncio.sleep(0))


def test_a_scenario_may_name_the_database_link() -> None:
    text = "name: t\nduration: 30s\nsteps:\n  - {at: 0s, for: 1s, link: database, cut: {}}\n"
    (step,) = load_scenario_text(text, "t.yaml").steps
    assert step.link is not None and step.link.proxy == "database"
