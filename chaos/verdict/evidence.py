"""The evidence a verdict is computed from: plain data, filled by adapters.

Nothing here comes from counters the backend keeps about itself (DESIGN section 9): the
fleet's ledger gives ``generated``, the database gives ``stored``, each dashboard client's
own record gives its ``received`` events, the timeline player gives ``fault_windows``, and
the fleet runner samples ``backlog`` and ``acked_per_s``. Every time is wall-clock epoch
seconds (float) so server and client times compare directly on one machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chaos.scenario.windows import FaultWindow

# Whatever one hash function gives for a payload, as long as the ledger side and the
# database side use the same one (``simulator.payloads.content_hash`` gives an int).
ContentHash = int | str


@dataclass(frozen=True)
class GeneratedDetection:
    """One ledger entry: an identity the fleet created, with the hash of its content
    (canonical JSON of the payload, as the backend compares it) and its ``captured_at``."""

    node_id: str
    seq: int
    content_hash: ContentHash
    captured_at: float | None = None


@dataclass(frozen=True)
class StoredDetection:
    """One identity as found in the database. ``copies`` > 1 means it was stored more than
    once (the unique key failed); ``content_hash`` is over the stored payload."""

    node_id: str
    seq: int
    content_hash: ContentHash
    copies: int = 1
    committed_at: float | None = None


@dataclass(frozen=True)
class ReceivedEvent:
    """One detection event (not node_status/blackout events) as a dashboard client received
    it, in the order received; times in epoch seconds."""

    stream_seq: int
    node_id: str
    seq: int
    received_at: float
    committed_at: float
    captured_at: float | None = None


@dataclass(frozen=True)
class DashboardRecord:
    """What one dashboard client recorded. ``events`` may be raw (duplicates included) or
    already deduplicated by the client; in the latter case the client's own counts of what
    it dropped go in ``client_duplicates`` / ``client_out_of_order`` and are added to what
    the verdict finds in ``events``."""

    name: str
    events: Sequence[ReceivedEvent]
    reconnects: int = 0
    client_duplicates: int = 0
    client_out_of_order: int = 0


@dataclass(frozen=True)
class SeriesPoint:
    t: float
    value: float


@dataclass(frozen=True)
class Evidence:
    """Everything the verdict looks at.

    Scope it to this run: ``stored`` = rows of this run's nodes only (the database may
    outlive runs), and each dashboard's ``events`` = every detection event it received
    from the run's start head on (subscribe with ``since=<head at start>``).

    ``run_started_at``/``generation_ended_at``: when the fleet started and stopped
    generating; ``drained_at``: when every outbox was empty and every dashboard had every
    stored event (``None`` if that never happened within the scenario's ``drain``).
    ``backlog``: total outbox depth across the fleet, sampled; ``acked_per_s``: acked
    detections per second, sampled. ``harness_errors``: what went wrong in the harness
    itself (a step that failed to apply, an adapter that could not read the database...).
    """

    generated: Sequence[GeneratedDetection]
    stored: Sequence[StoredDetection]
    dashboards: Sequence[DashboardRecord]
    fault_windows: Sequence[FaultWindow] = ()
    backlog: Sequence[SeriesPoint] = ()
    acked_per_s: Sequence[SeriesPoint] = ()
    run_started_at: float | None = None
    generation_ended_at: float | None = None
    drained_at: float | None = None
    harness_errors: Sequence[str] = field(default_factory=tuple)
