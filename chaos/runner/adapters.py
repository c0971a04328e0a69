"""The ``StepContext`` members the runner hands the timeline player.

Each adapter turns a scenario step's intent into a call on the part that owns it: the L3
links (``chaos.l3``, sync: run in a thread), the backend and database processes (by PID),
the operator API (blackout). Steps see only the Protocols in ``chaos.scenario.context``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from chaos.scenario.context import (
    BackendControl,
    DatabaseControl,
    L3Control,
    OperatorControl,
    ToxiproxyControl,
)
from simulator.protocol import BLACKOUT_ACTIVATE_PATH, BLACKOUT_DEACTIVATE_PATH

if TYPE_CHECKING:
    from chaos.l3 import Link as L3Link

# The fleet sits on the namespace side of each link (see chaos.stack): traffic towards the
# backend (Toxiproxy's "upstream") leaves the namespace; answers enter it.
_DIRECTIONS = {"upstream": "from_ns", "downstream": "to_ns", "both": "both"}


def l3_direction(direction: str) -> str:
    try:
        return _DIRECTIONS[direction]
    except KeyError:
        raise ValueError(f"direction {direction!r}: expected upstream, downstream or "
                         "both") from None


class L3Links:
    """``L3Control`` over the stack's links by scenario link name."""

    def __init__(self, links: Mapping[str, L3Link]) -> None:
        self._links = dict(links)

    def _link(self, name: str) -> L3Link:
        try:
            return self._links[name]
        except KeyError:
            raise RuntimeError(f"link {name!r} does not cross a network namespace in this "
                               f"run (L3 links: {', '.join(self._links) or 'none'})") from None

    async def set_loss(self, link: str, fraction: float, direction: str) -> None:
        await asyncio.to_thread(self._link(link).set_loss, fraction, l3_direction(direction))

    async def partition(self, link: str, direction: str) -> None:
        await asyncio.to_thread(self._link(link).partition, l3_direction(direction))

    async def heal(self, link: str) -> None:
        await asyncio.to_thread(self._link(link).heal)

    async def set_bandwidth(self, link: str, rate_kbit: int, direction: str) -> None:
        await asyncio.to_thread(self._link(link).set_bandwidth, rate_kbit,
                                l3_direction(direction))

    async def clear_bandwidth(self, link: str) -> None:
        await asyncio.to_thread(self._link(link).set_bandwidth, None, "both")

    # -- netem-class impairments (``L3Impairments``): netem where the kernel has it, else
    # the NFQUEUE shaper; directions are already to_ns / from_ns / both.
    def impairments_unavailable(self) -> str | None:
        from chaos.l3 import impairments_available

        ok, why = impairments_available()
        return None if ok else why

    async def impair(self, link: str, kind: str, params: Mapping[str, float],
                     direction: str) -> None:
        await asyncio.to_thread(self._link(link).shape, kind, params, direction)

    async def unimpair(self, link: str, kind: str, direction: str) -> None:
        await asyncio.to_thread(self._link(link).unshape, kind, direction)


class OperatorApi:
    """The operator side of the backend API, straight to the backend (out of band: the
    operator's console is not on the fleet's faulty links)."""

    def __init__(self, base_url: str, token: str) -> None:
        self._url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _post(self, path: str, body: dict[str, object]) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            for attempt in range(10):  # the backend may be restarting under another fault
                try:
                    resp = await client.post(self._url + path, json=body, headers=self._headers)
                except httpx.HTTPError:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                if resp.status_code in (429, 503):
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                resp.raise_for_status()
                return
        raise RuntimeError(f"POST {path}: the backend did not answer after 10 attempts")

    async def blackout_activate(self, node_ids: Sequence[str], reason: str) -> None:
        await self._post(BLACKOUT_ACTIVATE_PATH, {"node_ids": list(node_ids), "reason": reason})

    async def blackout_deactivate(self, node_ids: Sequence[str], reason: str) -> None:
        await self._post(BLACKOUT_DEACTIVATE_PATH,
                         {"node_ids": list(node_ids), "reason": reason})


@dataclass(frozen=True)
class FleetIds:
    node_ids: Sequence[str]


@dataclass
class RunContext:
    """A ``StepContext``: what this run can do, and why not where it cannot."""

    fleet: FleetIds
    toxiproxy: ToxiproxyControl | None = None
    l3: L3Control | None = None
    backend: BackendControl | None = None
    database: DatabaseControl | None = None
    operator: OperatorControl | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
