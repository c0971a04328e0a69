"""The Locust-side gate: judges a run from evidence gathered across the whole fleet.

Pure functions over plain data (no Locust, no network) so the same judgement runs in a
single process, in a ``--processes`` master and in a master whose workers live on other
machines. The evidence:

* acked: every ``(node_id, seq)`` an edge user got a 2xx for, with the content hash of
  what it sent (the node's view);
* stored: the rows of this run's nodes read back from the backend (the database's view),
  each with its stream seq and the content hash of the row as stored;
* per dashboard: the stream seqs of the detection events it received, after a drain;
* delivery latencies: receive time - ``committed_at`` of every delivered event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.verdict import nearest_rank, percentiles

__all__ = [
    "DashboardReceipt",
    "GateCheck",
    "GateResult",
    "format_result",
    "judge",
    "outside_windows",
    "percentile",
]


@dataclass(frozen=True)
class DashboardReceipt:
    """What one dashboard saw: detection stream seqs, duplicates dropped, gaps seen."""

    name: str
    received: frozenset[int]
    duplicates: int = 0
    gaps: int = 0
    reconnects: int = 0


@dataclass(frozen=True)
class GateCheck:
    name: str
    passed: bool
    detail: str


@dataclass
class GateResult:
    checks: list[GateCheck] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100), as the verdict ranks; NaN for no values."""
    if not values:
        return math.nan
    return nearest_rank(sorted(values), q)


def outside_windows(latencies_ms: Sequence[float], committed_at: Sequence[float],
                    windows: Sequence[Sequence[float]]) -> list[float]:
    """Latencies of deliveries whose span (commit -> receive) touches no fault window.

    A figure beside the gate's p99 (which counts every delivery): it tells a run whose
    faults delayed the stream, as they should, from one that is slow without faults.
    """
    quiet: list[float] = []
    for latency, start in zip(latencies_ms, committed_at, strict=True):
        end = start + latency / 1000.0
        if not any(start <= w_end and end >= w_start for w_start, w_end in windows):
            quiet.append(latency)
    return quiet


def _examples(items: Iterable[Any], limit: int = 5) -> str:
    shown = sorted(items)[:limit]
    return ", ".join(f"{a}/{b}" if isinstance(a, str) else str(a) for a, b in shown) \
        if shown and isinstance(shown[0], tuple) else ", ".join(str(s) for s in shown)


def judge(
    acked: Mapping[str, Mapping[int, int]],
    stored: Mapping[tuple[str, int], tuple[int | None, int]],
    dashboards: Sequence[DashboardReceipt],
    latencies_ms: Sequence[float],
    max_p99_ms: float,
    expected_dashboards: int,
    fault_errors: Sequence[str] = (),
) -> GateResult:
    """Every acked detection stored unaltered, every dashboard got every stored one, p99 in
    bound. ``acked``: node -> seq -> content hash; ``stored``: identity -> (stream seq, hash)."""
    result = GateResult()
    acked_ids = {(node, seq): h for node, seqs in acked.items() for seq, h in seqs.items()}
    result.figures.update(acked=len(acked_ids), nodes=len(acked), stored=len(stored))

    result.checks.append(GateCheck(
        "traffic", bool(acked_ids),
        f"{len(acked_ids)} detections acked by {len(acked)} nodes"
        + ("" if acked_ids else " (nothing acked: the run proves nothing)"),
    ))

    missing = acked_ids.keys() - stored.keys()
    altered = {k for k, h in acked_ids.items() if k in stored and stored[k][1] != h}
    result.figures["acked_not_stored"] = len(missing)
    result.figures["acked_altered"] = len(altered)
    result.checks.append(GateCheck(
        "acked_stored", not missing and not altered,
        f"{len(acked_ids)} acked, {len(acked_ids) - len(missing)} of them in the database, "
        f"{len(missing)} missing" + (f" (e.g. {_examples(missing)})" if missing else "")
        + f", {len(altered)} altered" + (f" (e.g. {_examples(altered)})" if altered else ""),
    ))

    sequenced = {s for s, _ in stored.values() if s is not None}
    unsequenced = sum(1 for s, _ in stored.values() if s is None)
    per_dashboard = [(d, len(sequenced - d.received)) for d in dashboards]
    result.figures["dashboard_missing"] = {d.name: n for d, n in per_dashboard}
    enough = len(dashboards) >= expected_dashboards
    complete = all(n == 0 for _, n in per_dashboard) and unsequenced == 0
    detail = (
        f"{len(dashboards)} dashboards (expected {expected_dashboards}), "
        f"{len(stored)} stored detections of this run ({unsequenced} without a stream seq); "
        "missing per dashboard: "
        + (", ".join(f"{d.name}={n}" for d, n in per_dashboard) or "none reported")
    )
    worst = max(per_dashboard, key=lambda item: item[1], default=None)
    if worst and worst[1]:
        lacking = _examples(sequenced - worst[0].received)
        detail += f" (e.g. {worst[0].name} lacks stream seqs {lacking})"
    dupes = sum(d.duplicates for d in dashboards)
    gaps = sum(d.gaps for d in dashboards)
    detail += f"; duplicates dropped {dupes}, gaps seen {gaps}"
    result.checks.append(GateCheck("dashboards", enough and complete and gaps == 0, detail))

    stats = percentiles(latencies_ms)
    p99 = stats.p99 if stats.p99 is not None else math.nan
    result.figures.update(
        deliveries=stats.count, p50_ms=stats.p50 if stats.p50 is not None else math.nan,
        p95_ms=stats.p95 if stats.p95 is not None else math.nan, p99_ms=p99,
        max_ms=stats.max if stats.max is not None else math.nan,
    )
    ok = bool(latencies_ms) and p99 <= max_p99_ms
    result.checks.append(GateCheck(
        "delivery_p99", ok,
        (f"p99 {p99:.1f} ms {'<=' if ok else '>'} {max_p99_ms:g} ms "
         f"(p50 {result.figures['p50_ms']:.1f}, p95 {result.figures['p95_ms']:.1f}, "
         f"max {result.figures['max_ms']:.1f}, n={len(latencies_ms)})")
        if latencies_ms else "no delivery measured",
    ))

    result.checks.append(GateCheck(
        "faults", not fault_errors,
        "fault timeline played" if not fault_errors
        else f"{len(fault_errors)} fault API errors: {'; '.join(fault_errors[:3])}",
    ))
    return result


def format_result(result: GateResult, header: str = "") -> str:
    """The gate's terminal block: one line per check, then one verdict line."""
    lines = [f"=== sentinel gate {header}".rstrip() + " ==="]
    for check in result.checks:
        lines.append(f"[{'PASS' if check.passed else 'FAIL'}] {check.name:<13} {check.detail}")
    verdict = "PASS" if result.passed else "FAIL (" + ", ".join(result.failed) + ")"
    lines.append(f"sentinel gate: {verdict}")
    return "\n".join(lines)
