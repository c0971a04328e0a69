"""The timeline player against the real embedded Toxiproxy (chaos.toxiproxy), through the
adapter the runner will use: toxics and cuts land on the proxy, and are gone afterwards,
also when the run is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from chaos.scenario import TimelinePlayer, load_scenario_text
from chaos.toxiproxy import AsyncToxiproxyControl, EmbeddedToxiproxy, StepToxiproxy

UPSTREAM = "127.0.0.1:9"  # never connected to: only the proxy's state is looked at


@dataclass
class Fleet:
    node_ids: Sequence[str] = ("edge-0001",)


@dataclass
class ToxiproxyOnlyContext:
    """What the runner provides in ``--target`` mode without L3: only Toxiproxy."""

    toxiproxy: StepToxiproxy
    l3: None = None
    backend: None = None
    database: None = None
    operator: None = None
    fleet: Fleet = field(default_factory=Fleet)
    unavailable: Mapping[str, str] = field(default_factory=lambda: {
        "l3": "not requested in this test", "backend": "--target: not ours to kill",
        "database": "--target", "operator": "--target"})


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as embedded:
        yield embedded


@contextlib.asynccontextmanager
async def proxies(server: EmbeddedToxiproxy) -> AsyncIterator[AsyncToxiproxyControl]:
    """The stack's two proxies, on the test's own event loop; deleted afterwards."""
    async with AsyncToxiproxyControl(server.url) as ctl:
        for name in ("ingest", "stream"):
            await ctl.create_proxy(name, UPSTREAM)
        try:
            yield ctl
        finally:
            for name in ("ingest", "stream"):
                await ctl.delete_proxy(name)


async def test_toxic_and_cut_are_applied_then_removed(server: EmbeddedToxiproxy) -> None:
    async with proxies(server) as control:
        await _toxic_and_cut(control)


async def _toxic_and_cut(control: AsyncToxiproxyControl) -> None:
    scenario = load_scenario_text(
        "name: t\nduration: 2s\nsteps:\n"
        "  - {at: 0s, for: 0.5s, link: ingest, toxic: {type: latency, "
        "attributes: {latency: 600, jitter: 200}}}\n"
        "  - {at: 0.1s, for: 0.4s, link: stream, cut: {}}\n"
        "  - {at: 0s, for: 0.5s, link: ingest, loss: {fraction: 0.5}}\n", "t.yaml")
    player = TimelinePlayer(scenario.steps, ToxiproxyOnlyContext(StepToxiproxy(control)))
    task = asyncio.create_task(player.run())
    await asyncio.sleep(0.3)
    assert [w.reason for w in player.windows if w.status == "failed"] == []
    ingest = await control.get_proxy("ingest")
    stream = await control.get_proxy("stream")
    assert [(t.type, t.attributes) for t in ingest.toxics] == [
        ("latency", {"latency": 600, "jitter": 200})]
    assert not stream.enabled
    windows = await asyncio.wait_for(task, timeout=5)
    assert (await control.get_proxy("ingest")).toxics == []
    assert (await control.get_proxy("stream")).enabled
    assert [(w.status, w.reason) for w in windows][:2] == [("applied", ""), ("applied", "")]
    assert windows[2].status == "skipped"
    assert windows[2].reason == "not requested in this test"


async def test_cancel_restores_the_proxy(server: EmbeddedToxiproxy) -> None:
    async with proxies(server) as control:
        await _cancel(control)


async def _cancel(control: AsyncToxiproxyControl) -> None:
    scenario = load_scenario_text("name: t\nduration: 30s\nsteps:\n"
                                  "  - {at: 0s, for: 20s, link: ingest, cut: {}}\n", "t.yaml")
    player = TimelinePlayer(scenario.steps, ToxiproxyOnlyContext(StepToxiproxy(control)))
    task = asyncio.create_task(player.run())
    await asyncio.sleep(0.2)
    assert not (await control.get_proxy("ingest")).enabled
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert (await control.get_proxy("ingest")).enabled
    assert player.windows[0].status == "interrupted"
