"""What a fault step may touch: the interface the runner provides to the timeline player.

Every member is a Protocol so the runner can hand in whatever objects it builds (an HTTP
client for Toxiproxy, the netns layer, process handles) without inheriting from us.
A capability the run does not have is ``None``, with the reason in
``StepContext.unavailable``; steps that need it are then skipped and recorded as such.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ToxicStream = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class ToxicSpec:
    """One Toxiproxy toxic, exactly as the v2 API takes it (see docs/api.md)."""

    name: str
    type: str
    stream: ToxicStream = "downstream"
    toxicity: float = 1.0
    attributes: Mapping[str, int | str] = field(default_factory=dict)

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


@runtime_checkable
class L3Impairments(Protocol):
    """netem-class impairments of a link (delay, duplicate, corrupt, reorder, burst loss),
    offered by the same object as ``L3Control`` where the run can do them.

    ``kind`` and ``params`` are ``chaos.l3.Link.shape``'s (durations in seconds);
    ``direction`` is ``to_ns``, ``from_ns`` or ``both``, as ``chaos.l3`` says it (the
    namespace side holds the fleet: ``to_ns`` is towards the fleet). Each kind is set and
    cleared on its own, so overlapping steps of different kinds compose.
    """

    def impairments_unavailable(self) -> str | None:
        """Why impairments cannot run here (one line), or ``None``."""
    async def impair(self, link: str, kind: str, params: Mapping[str, float],
                     direction: str) -> None: ...
    async def unimpair(self, link: str, kind: str, direction: str) -> None: ...


class BackendControl(Protocol):
    async def kill(self) -> None:
        """SIGKILL the backend process (no graceful shutdown)."""
    async def restart(self) -> None:
        """Start it again on the same address and database; return once it is ready."""
    async def pause(self) -> None:
        """SIGSTOP the backend's processes (they hold their sockets but answer nothing)."""
    async def resume(self) -> None:
        """SIGCONT every process ``pause`` stopped; safe to call when none is stopped."""


class DatabaseControl(Protocol):
    async def stop(self) -> None: ...
    async def start(self) -> None:
        """Start it again on the same data directory; return once it accepts connections."""
    async def kill(self) -> None:
        """SIGKILL every PostgreSQL process (postmaster and children); ``start`` recovers."""
    async def power_cut(self) -> None:
        """``kill``, and lose every write of the data directory not fsynced (the
        ``database.power_cut`` capability: the data dir is on ``chaos.lazyfs``)."""


class OperatorControl(Protocol):
    """The operator side of the backend API (``POST /api/blackout/...``)."""

    async def blackout_activate(self, node_ids: Sequence[str], reason: str) -> None: ...
    async def blackout_deactivate(self, node_ids: Sequence[str], reason: str) -> None: ...


class FleetInfo(Protocol):
    @property
    def node_ids(self) -> Sequence[str]: ...


@runtime_checkable
class FleetClocks(Protocol):
    """The fleet's node clocks, offered by the same object as ``FleetInfo`` where the run
    drives the fleet itself (``simulator.Fleet.set_clock_skew``).

    A skewed node writes ``captured_at`` ``offset_s`` off the true time (negative: behind);
    the fleet's ledger records the offset per detection, so latency is still measured from
    the true generation time. ``clear_clock_skew`` sets the clocks right again.
    """

    async def set_clock_skew(self, node_ids: Sequence[str], offset_s: float) -> None: ...
    async def clear_clock_skew(self, node_ids: Sequence[str]) -> None: ...


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

L3_IMPAIRMENTS = "l3.impairments"
"""The capability of the impairment steps: ``ctx.l3`` that is also an ``L3Impairments``
and says it can impair here."""


FLEET_CLOCKS = "fleet.clocks"
"""The capability of ``clock_skew``: ``ctx.fleet`` that is also a ``FleetClocks``."""


def _fleet_clocks_missing(ctx: StepContext) -> str | None:
    if isinstance(ctx.fleet, FleetClocks):
        return None
    return "this run's fleet cannot set its nodes' clocks (no FleetClocks)"


def _l3_impairments_missing(ctx: StepContext) -> str | None:
    if ctx.l3 is None:
        return None  # the l3 member's own reason is given below
    if not isinstance(ctx.l3, L3Impairments):
        return ("L3 impairments (delay, duplicate, corrupt, reorder, burst loss) are not "
                "offered by this run's L3 control")
    return ctx.l3.impairments_unavailable()


def l3_impairments(ctx: StepContext) -> L3Impairments:
    """``ctx.l3`` as ``L3Impairments``; RuntimeError with the reason where it cannot be."""
    reason = missing_capability(ctx, L3_IMPAIRMENTS)
    if reason is not None:
        raise RuntimeError(reason)
    assert isinstance(ctx.l3, L3Impairments)
    return ctx.l3


def missing_capability(ctx: StepContext, capability: str) -> str | None:
    """The reason a step needing ``capability`` must be skipped, or ``None`` if present.

    A dotted capability (``database.power_cut``) is a feature of a member: it needs that
    member and no entry of its own in ``unavailable`` (the run says when it lacks it).
    ``l3.impairments`` also asks the L3 member itself (``L3Impairments``), and
    ``fleet.clocks`` the fleet member (``FleetClocks``).
    """
    if capability == L3_IMPAIRMENTS and (reason := _l3_impairments_missing(ctx)) is not None:
        return reason
    if capability == FLEET_CLOCKS and (reason := _fleet_clocks_missing(ctx)) is not None:
        return reason
    member = capability.partition(".")[0]
    own = ctx.unavailable.get(capability) if member != capability else None
    if getattr(ctx, member) is not None and own is None:
        return None
    reason = own or ctx.unavailable.get(member)
    return reason or f"{capability} is not available in this run"
