"""What a fault step may touch: the interface the runner provides to the timeline player.

Every member is a Protocol so the runner can hand in whatever objects it builds (an HTTP
client for Toxiproxy, the netns layer, process handles) without inheriting from us.
A capability the run does not have is ``None``, with the reason in
``StepContext.unavailable``; steps that need it are then skipped and recorded as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ToxicStream = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class ToxicSpec:
    """One Toxiproxy toxic, exactly as the v2 API takes it (DESIGN contract 7)."""

    name: str
    type: str
    stream: ToxicStream = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "stream": self.stream,
                "toxicity": self.toxicity, "attributes": dict(self.attributes)}


class ToxiproxyControl(Protocol):
    """L4 faults on a named proxy (the link's ``proxy`` name).

    ``chaos.toxiproxy.StepToxiproxy(AsyncToxiproxyControl(url))`` provides exactly this.
    """

    async def add_toxic(self, proxy: str, toxic: ToxicSpec) -> None: ...
    async def remove_toxic(self, proxy: str, name: str) -> None: ...
    async def disable(self, proxy: str) -> None:
        """Cut the link: Toxiproxy ``enabled: false`` (closes connections, refuses new)."""
    async def enable(self, proxy: str) -> None: ...


class L3Control(Protocol):
    """Packet-level faults in the network namespaces (nftables, tc tbf).

    ``link`` is the scenario's link name (``ingest``/``stream``); ``direction`` is
    ``upstream`` (towards the backend, as in Toxiproxy), ``downstream`` or ``both``: the
    adapter maps them onto ``chaos.l3`` (``to_ns``/``from_ns`` depending on which side is
    in the namespace). ``heal`` removes loss and partition; ``clear_bandwidth`` the cap.
    """

    async def set_loss(self, link: str, fraction: float, direction: str) -> None: ...
    async def partition(self, link: str, direction: str) -> None: ...
    async def heal(self, link: str) -> None: ...
    async def set_bandwidth(self, link: str, rate_kbit: int, direction: str) -> None: ...
    async def clear_bandwidth(self, link: str) -> None: ...


class BackendControl(Protocol):
    async def kill(self) -> None:
        """SIGKILL the backend process (no graceful shutdown)."""
    async def restart(self) -> None:
        """Start it again on the same address and database; return once it is ready."""


class DatabaseControl(Protocol):
    async def stop(self) -> None: ...
    async def start(self) -> None:
        """Start it again on the same data directory; return once it accepts connections."""


class OperatorControl(Protocol):
    """The operator side of the backend API (``POST /api/blackout/...``)."""

    async def blackout_activate(self, node_ids: Sequence[str], reason: str) -> None: ...
    async def blackout_deactivate(self, node_ids: Sequence[str], reason: str) -> None: ...


class FleetInfo(Protocol):
    @property
    def node_ids(self) -> Sequence[str]: ...


class StepContext(Protocol):
    """Everything a step may use. ``None`` = not available in this run (see ``unavailable``)."""

    @property
    def toxiproxy(self) -> ToxiproxyControl | None: ...
    @property
    def l3(self) -> L3Control | None: ...
    @property
    def backend(self) -> BackendControl | None: ...
    @property
    def database(self) -> DatabaseControl | None: ...
    @property
    def operator(self) -> OperatorControl | None: ...
    @property
    def fleet(self) -> FleetInfo: ...
    @property
    def unavailable(self) -> Mapping[str, str]:
        """Why a capability is ``None``, keyed ``toxiproxy``, ``l3``, ``backend``,
        ``database``, ``operator``; e.g. ``{"l3": "needs root: run as root or use sudo"}``."""


CAPABILITIES = ("toxiproxy", "l3", "backend", "database", "operator")


def missing_capability(ctx: StepContext, capability: str) -> str | None:
    """The reason a step needing ``capability`` must be skipped, or ``None`` if present."""
    if getattr(ctx, capability) is not None:
        return None
    reason = ctx.unavailable.get(capability)
    return reason or f"{capability} is not available in this run"
