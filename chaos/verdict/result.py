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
class DashboardResult:
    name: str
    received: int
    unique: int
    missing: int
    duplicates: int
    out_of_order: int
    reconnects: int = 0
    missing_sample: Sequence[Identity] = ()


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

    @property
    def failed_slos(self) -> list[SloResult]:
        return [slo for slo in self.slos if not slo.passed]


def exit_code(verdict: Verdict | None) -> int:
    """0 every SLO held; 1 an SLO failed; 2 the harness could not run (or judge) properly.
    ``None`` (no verdict at all) is a harness error."""
    if verdict is None or verdict.harness_errors:
        return EXIT_HARNESS_ERROR
    return EXIT_PASS if verdict.passed else EXIT_SLO_FAILED
