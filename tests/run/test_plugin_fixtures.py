"""The plugin's building-block fixtures used together, as another project's test would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chaos.toxiproxy import ToxiproxyControl
from simulator import Fleet

pytestmark = [pytest.mark.slow, pytest.mark.chaos]


async def test_a_cut_ingest_link_fills_the_outbox_and_the_fleet_recovers(
        sentinel_fleet: Callable[..., Fleet], toxiproxy_control: ToxiproxyControl) -> None:
    fleet = sentinel_fleet(nodes=3, rate=4.0, dashboards=1, duration=None)
    await fleet.start()
    try:
        await asyncio.sleep(2)
        assert fleet.counters.acked > 0, fleet.snapshot()
        await asyncio.to_thread(toxiproxy_control.cut, "ingest")
        await asyncio.sleep(2)
        assert fleet.backlog > 0, "the outbox must fill while the link is cut"
        await asyncio.to_thread(toxiproxy_control.restore, "ingest")
        result = await fleet.drain(30)
        assert result.outbox_empty and result.dashboards_caught_up, result
    finally:
        await fleet.close()
    assert fleet.snapshot()["received_events"] > 0
