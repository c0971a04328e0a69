"""The verdict's result types and the exit-code mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chaos.scenario.windows import FaultWindow
from chaos.verdict._stats import Percentiles

EXIT_PASS = 0
EXIT_SLO_FAILED = 1
EXIT_HARNESS_ERROR = 2

Identity = tuple[str, int]


@dataclass(frozen=True)
class SloResult:
    """One judged SLO: ``measured`` against ``limit`` (``None`` when nothing could be
    measured; ``detail`` then says why)."""

    name: str
    passed: bool
    measured: float | None
    limit: float | None
    unit: str
    detail: str = ""
    # ``False``: it held, but the recovery path it guards was never taken in this run;
    # ``None``: the question does not apply to this SLO.
    exercised: bool | None = None
    # ``False``: the evidence cannot answer it (the detail says why); never a silent pass.
    measurable: bool = True

    @property
    def status(self) -> str:
        """One word for tables: ``FAIL``, ``not measurable``, ``not exercised`` or ``ok``."""
        if not self.passed:
            return "FAIL"
        if not self.measurable:
            return "not measurable"
        if self.exercised is False:
            return "not exercised"
        return "ok"


@dataclass(frozen=True)
class Integrity:
    """Ledger against database. ``duplicated`` = ``stored_twice`` + ``altered`` +
    ``unexpected`` (stored identities the fleet never generated). Samples list at most 20
    identities each, for the report."""

    generated: int
    stored: int
    lost: int
    duplicated: int
    stored_twice: int
    altered: int
    unexpected: int
    lost_sample: Sequence[Identity] = ()
    duplicated_sample: Sequence[Identity] = ()


@dataclass(frozen=True)
class Accounting:
    """The fleet's detections sorted the way Jepsen's set checker sorts a set's elements:
    acknowledged and stored (the normal case); acknowledged and not stored (``lost``: the
    serious one); not acknowledged and stored (``recovered``: the ack was lost, a retry
    found the row); not acknowledged and not stored (``unsent``: still in an outbox at the
    end, or given up); ``stored_twice`` as in ``Integrity``."""

    acked_stored: int
    lost: int
    recovered: int
    unsent: int
    stored_twice: int
    lost_sample: Sequence[Identity] = ()
    unsent_sample: Sequence[Identity] = ()


@dataclass(frozen=True)
class DashboardResult:
    """One dashboard against the stored set and the database's stream. ``stable``: stored
    detections it received with the stored content; ``missing``: stored detections it never
    received plus stream events of other types (node_status, blackout...) it skipped;
    ``phantom``: identities or stream seqs it received that were never stored;
    ``altered``: received content that differs from the stored content."""

    name: str
    received: int
    unique: int
    missing: int
    duplicates: int
    out_of_order: int
    reconnects: int = 0
    missing_sample: Sequence[Identity] = ()
    stable: int = 0
    phantom: int = 0
    altered: int = 0
    missing_events: int = 0
    sessions: int = 0
    resumes: int = 0
    replayed: int = 0
    slow_closes: int = 0
    fatal: str | None = None
    phantom_sample: Sequence[Identity] = ()
    altered_sample: Sequence[Identity] = ()
    missing_events_sample: Sequence[int] = ()


@dataclass(frozen=True)
class Causality:
    """Acks against commits: an ack the node received before its row's transaction
    committed (real commit time) means the backend acknowledged what it had not stored.
    ``checked``: acks compared; ``measurable``: ``False`` when commit times are unknown."""

    checked: int
    acked_before_commit: int
    measurable: bool
    reason: str = ""
    worst_lead_ms: float | None = None
    sample: Sequence[Identity] = ()


@dataclass(frozen=True)
class BlackoutResult:
    """Every blackout cycle judged: ``leaks`` detections committed while their node was in
    an acknowledged blackout; ``unacknowledged`` activations the node did not acknowledge
    within the bound; ``unflushed`` cycles whose held-back detections did not all arrive or
    whose blackout-log count disagrees with the ledger."""

    cycles: int
    leaks: int
    unacknowledged: int
    unflushed: int
    worst_ack_s: float | None = None
    leak_sample: Sequence[Identity] = ()
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Coverage:
    """How often each recovery path was taken (names in ``COVERAGE_PATHS``), with a short
    note of what was counted, and which of them the SLOs required."""

    paths: dict[str, int]
    notes: dict[str, str]
    required: Sequence[str] = ()

    def exercised(self, path: str) -> bool:
        return self.paths.get(path, 0) > 0


@dataclass(frozen=True)
class AuditResult:
    """Audit log against the state changes the run's clients asked for. ``by_kind``:
    changes made, per audit action; ``missing``: changes with no row (or no row inside the
    request's window, or with the wrong actor); ``unexpected``: rows of this run's targets
    that no client caused (or a second row for one change); ``append_only``: for each of
    UPDATE/DELETE/TRUNCATE, whether the database refused it (``None``: not tried)."""

    measurable: bool
    changes: int
    rows: int
    missing: int
    unexpected: int
    by_kind: dict[str, int]
    append_only: dict[str, bool | None]
    missing_sample: Sequence[str] = ()
    unexpected_sample: Sequence[str] = ()
    reason: str = ""


@dataclass(frozen=True)
class LatencyResult:
    """Milliseconds, pooled over dashboards (first receipt of each event per dashboard).
    Delivery = received - committed_at; end-to-end = received - captured_at. An event is
    *inside* a fault window when its interval (commit or capture -> receipt) overlaps one."""

    delivery: Percentiles
    delivery_inside: Percentiles
    delivery_outside: Percentiles
    end_to_end: Percentiles
    end_to_end_inside: Percentiles
    end_to_end_outside: Percentiles


@dataclass(frozen=True)
class Recovery:
    """Seconds from a fault's end until the fleet's backlog was back to its pre-fault level
    (``None`` = it never was, within the evidence)."""

    step_index: int
    kind: str
    description: str
    fault_ended_at: float
    recovered_at: float | None
    recovery_s: float | None


@dataclass(frozen=True)
class Verdict:
    """``skipped``: steps that did not run (a missing capability, or the run ended before
    their start), each with its reason; ``failed_steps``: steps whose apply or revert raised
    (also listed in ``harness_errors``)."""

    passed: bool
    slos: Sequence[SloResult]
    integrity: Integrity
    dashboards: Sequence[DashboardResult]
    latency: LatencyResult
    recoveries: Sequence[Recovery]
    drain_s: float | None
    backlog_threshold: float
    skipped: Sequence[FaultWindow] = ()
    failed_steps: Sequence[FaultWindow] = ()
    harness_errors: Sequence[str] = field(default_factory=tuple)
    accounting: Accounting | None = None
    causality: Causality | None = None
    blackout: BlackoutResult | None = None
    coverage: Coverage | None = None
    audit: AuditResult | None = None
    # For each failing SLO, one line per identity of its sample: its trail through the
    # evidence and the fault windows active at each step.
    forensics: dict[str, list[str]] = field(default_factory=dict)

    @property
    def failed_slos(self) -> list[SloResult]:
        return [slo for slo in self.slos if not slo.passed]


def exit_code(verdict: Verdict | None) -> int:
    """0 every SLO held; 1 an SLO failed; 2 the harness could not run (or judge) properly.
    ``None`` (no verdict at all) is a harness error."""
    if verdict is None or verdict.harness_errors:
        return EXIT_HARNESS_ERROR
    return EXIT_PASS if verdict.passed else EXIT_SLO_FAILED
