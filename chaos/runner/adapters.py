"""The ``StepContext`` members the runner hands the timeline player.

Each adapter turns a scenario step's intent into a call on the part that owns it: the L3
links (``chaos.l3``, sync: run in a thread), the backend and database processes (by PID),
the operator API (blackout). Steps see only the Protocols in ``chaos.scenario.context``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from chaos.scenario import format_offset
from chaos.scenario.context import (
    BackendControl,
    DatabaseControl,
    FleetInfo,
    L3Control,
    OperatorControl,
    ToxiproxyControl,
)
from simulator.protocol import BLACKOUT_ACTIVATE_PATH, BLACKOUT_DEACTIVATE_PATH
from simulator.tls import httpx_verify

if TYPE_CHECKING:
    from chaos.l3 import Link as L3Link
    from simulator import Fleet

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


@dataclass(frozen=True)
class BlackoutCall:
    """One blackout change the operator asked for and got a 2xx for: when it was first
    sent and finally answered (epoch s), and the blackout log rows it changed (id, node),
    which are the ones that got a new row, a command and an audit row: re-activating an
    active node answers its old row and changes nothing."""

    activate: bool
    requested_at: float
    answered_at: float
    changed: tuple[tuple[int, str], ...]


class OperatorApi:
    """The operator side of the backend API, straight to the backend (out of band: the
    operator's console is not on the fleet's faulty links). ``calls``: every blackout
    change answered 2xx, for the evidence (blackout cycles, audit). ``ssl_context``: the
    run's TLS context (an ``https://`` backend with a private CA), default verification
    without one."""

    def __init__(self, base_url: str, token: str, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._url = base_url.rstrip("/")
        self._verify = httpx_verify(ssl_context)
        self._headers = {"Authorization": f"Bearer {token}"}
        self.calls: list[BlackoutCall] = []
        self._seen_rows: set[int] = set()

    async def _post(self, path: str, body: dict[str, object]) -> tuple[float, float, object]:
        """(first sent, answered, JSON answer) of a POST retried while the backend is down."""
        requested_at = time.time()
        async with httpx.AsyncClient(timeout=10.0, verify=self._verify) as client:
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
                return requested_at, time.time(), resp.json()
        raise RuntimeError(f"POST {path}: the backend did not answer after 10 attempts")

    async def _change(self, activate: bool, path: str, body: dict[str, object]) -> None:
        requested_at, answered_at, answer = await self._post(path, body)
        rows = answer.get("blackouts", []) if isinstance(answer, dict) else []
        changed: list[tuple[int, str]] = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("id"), int):
                continue
            bid = int(row["id"])
            # An activation answers a node's already active row too: not a change.
            if activate and bid in self._seen_rows:
                continue
            self._seen_rows.add(bid)
            changed.append((bid, str(row.get("node_id"))))
        self.calls.append(BlackoutCall(activate, requested_at, answered_at, tuple(changed)))

    async def blackout_activate(self, node_ids: Sequence[str], reason: str) -> None:
        await self._change(True, BLACKOUT_ACTIVATE_PATH,
                           {"node_ids": list(node_ids), "reason": reason})

    async def blackout_deactivate(self, node_ids: Sequence[str], reason: str) -> None:
        await self._change(False, BLACKOUT_DEACTIVATE_PATH,
                           {"node_ids": list(node_ids), "reason": reason})


@dataclass(frozen=True)
class FleetIds:
    node_ids: Sequence[str]


#: Skewed node ids the report names at most per offset (a share of a big fleet is many).
_SKEWED_NAMED_MAX = 8


class FleetNodes:
    """``FleetInfo`` and ``FleetClocks`` over the run's own ``simulator.Fleet``; remembers
    which nodes it skewed and by how much, so the report can name them."""

    def __init__(self, fleet: Fleet, node_ids: Sequence[str]) -> None:
        self._fleet = fleet
        self._node_ids = tuple(node_ids)
        self.skewed: dict[float, set[str]] = {}  # offset (s) -> nodes skewed by it, all run

    @property
    def node_ids(self) -> Sequence[str]:
        return self._node_ids

    async def set_clock_skew(self, node_ids: Sequence[str], offset_s: float) -> None:
        self._fleet.set_clock_skew(node_ids, offset_s)
        self.skewed.setdefault(offset_s, set()).update(node_ids)

    async def clear_clock_skew(self, node_ids: Sequence[str]) -> None:
        self._fleet.clear_clock_skew(node_ids)

    def skew_summary(self) -> str | None:
        """One line for the report's environment: ``+2h: edge-00001, edge-00005``; ``None``
        when no clock was skewed."""
        parts = []
        for offset, ids in sorted(self.skewed.items(), key=lambda item: -item[0]):
            named = ", ".join(sorted(ids)[:_SKEWED_NAMED_MAX])
            more = f" +{len(ids) - _SKEWED_NAMED_MAX} more" if len(ids) > _SKEWED_NAMED_MAX \
                else ""
            parts.append(f"{format_offset(offset)}: {named}{more}")
        return "; ".join(parts) or None


@dataclass
class RunContext:
    """A ``StepContext``: what this run can do, and why not where it cannot."""

    fleet: FleetInfo
    toxiproxy: ToxiproxyControl | None = None
    l3: L3Control | None = None
    backend: BackendControl | None = None
    database: DatabaseControl | None = None
    operator: OperatorControl | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
