"""The scenario as plain, validated data (the format is chaos/scenario/FORMAT.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chaos.scenario.steps._base import Action, Link

# Payload kinds the fleet knows how to generate (see ``Fleet.payload_mix``).
PAYLOAD_KINDS = ("empty", "single", "crowd", "large")
LINK_NAMES = ("ingest", "stream", "database")
DELIVERY_SCOPES = ("all", "outside_faults")


@dataclass(frozen=True)
class Fleet:
    """The simulated side: ``nodes`` edge nodes at ``rate`` detections/s each, ``dashboards``
    WebSocket subscribers, and the share of each payload kind (weights, normalised to 1):
    ``empty`` (no detections), ``single`` (one), ``crowd`` (several), ``large`` (near the cap).
    """

    nodes: int = 20
    rate: float = 2.0
    dashboards: int = 3
    payload_mix: Mapping[str, float] = field(
        default_factory=lambda: {"empty": 0.1, "single": 0.7, "crowd": 0.2})


COVERAGE_PATHS = ("idempotency", "ack_lost", "resume", "slow_consumer", "backend_restart",
                  "db_outage", "blackout", "overload")
"""The recovery paths a run can exercise; ``require_exercised`` names some of them. What
counts as taking each one is in ``chaos/verdict/_coverage.py``."""


@dataclass(frozen=True)
class Slos:
    """What must hold for a pass. Latencies in ms, times in s; ``None`` = not judged."""

    max_lost: int = 0
    max_duplicated: int = 0
    max_missing: int = 0
    max_dashboard_duplicates: int = 0
    max_out_of_order: int = 0
    delivery_p99_ms: float = 1000.0
    # "all" deliveries, or only those "outside_faults" (for scenarios that attack the
    # stream itself, where an event committed during an outage cannot arrive in 1 s).
    delivery_p99_scope: str = "all"
    drain_timeout_s: float = 60.0
    recovery_max_s: float | None = None
    max_altered: int = 0
    max_phantom: int = 0
    max_acked_before_commit: int = 0
    # How long a node may take to acknowledge a blackout its operator activated.
    blackout_ack_max_s: float = 10.0
    max_audit_missing: int = 0
    max_audit_unexpected: int = 0
    # Recovery paths (names in COVERAGE_PATHS) that must have been taken for a pass.
    require_exercised: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One timeline entry: ``action`` applied at ``at_s`` for ``for_s`` seconds."""

    index: int
    at_s: float
    for_s: float
    action: Action
    link: Link | None = None
    line: int | None = None

    @property
    def kind(self) -> str:
        return self.action.kind

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s

    def describe(self) -> str:
        return self.action.describe()


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario. ``duration_s`` is how long the fleet generates; ``drain_s`` is how
    long the runner then waits at most for outboxes and dashboards to settle."""

    name: str
    description: str
    duration_s: float
    drain_s: float
    fleet: Fleet
    links: Mapping[str, Link]
    steps: tuple[Step, ...]
    slos: Slos
    source: str = ""
    text: str = ""

    def with_overrides(self, *, nodes: int | None = None, dashboards: int | None = None,
                       duration_s: float | None = None) -> Scenario:
        """The CLI's ``--nodes/--dashboards/--duration``; steps past a shorter duration are
        kept (the runner stops them at the end), since the file is what the user asked for."""
        from dataclasses import replace

        fleet = replace(self.fleet,
                        nodes=self.fleet.nodes if nodes is None else nodes,
                        dashboards=self.fleet.dashboards if dashboards is None else dashboards)
        return replace(self, fleet=fleet,
                       duration_s=self.duration_s if duration_s is None else duration_s)
