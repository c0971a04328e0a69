"""Answers turned into SLO results: measured against limit, with a detail a person can act
on, and whether the recovery path the SLO guards was taken at all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chaos.scenario.model import Slos
from chaos.verdict.evidence import Evidence, SeriesPoint
from chaos.verdict.result import (
    Accounting,
    AuditResult,
    BlackoutResult,
    Causality,
    Coverage,
    DashboardResult,
    Integrity,
    LatencyResult,
    Recovery,
    SloResult,
)


def at_most(name: str, measured: int, limit: int, unit: str, detail: str,
            exercised: bool | None = None) -> SloResult:
    return SloResult(name=name, passed=measured <= limit, measured=float(measured),
                     limit=float(limit), unit=unit, detail=detail, exercised=exercised)


def not_measurable(name: str, unit: str, limit: float, reason: str) -> SloResult:
    return SloResult(name=name, passed=True, measured=None, limit=limit, unit=unit,
                     detail=f"not measurable: {reason}", measurable=False)


def integrity_slos(integ: Integrity, acc: Accounting, cover: Coverage, slos: Slos, *,
                   faults: bool, ledger_gaps: int) -> list[SloResult]:
    idem = cover.paths.get("idempotency", 0)
    lost_detail = (f"{integ.generated} generated, {integ.stored} stored; acked+stored "
                   f"{acc.acked_stored}, acked+lost {acc.lost}, recovered (ack lost, found "
                   f"stored) {acc.recovered}, unsent {acc.unsent}")
    return [
        at_most("lost", integ.lost, slos.max_lost, "detections", lost_detail,
                exercised=faults or cover.exercised("ack_lost")),
        at_most("duplicated", integ.duplicated, slos.max_duplicated, "detections",
                f"{integ.stored_twice} stored twice, {integ.altered} altered, "
                f"{integ.unexpected} never generated; {idem} retries of committed "
                "detections answered as duplicates", exercised=idem > 0),
        at_most("ledger_gaps", ledger_gaps, 0, "identities",
                "seqs missing from the fleet's own ledger between each node's first and "
                "last generated detection (a seq counter that skipped or a ledger row lost: "
                "what the ledger lacks cannot be judged); not the dashboards' stream gaps"),
    ]


def stream_slos(dashboards: Sequence[DashboardResult], stored: int, slos: Slos, *,
                stream_known: bool) -> list[SloResult]:
    results: list[SloResult] = []
    for d in dashboards:
        other = (f", {d.missing_events} other stream events skipped" if stream_known
                 else "; other event types not checked (stream not readable)")
        results.append(at_most(
            f"missing:{d.name}", d.missing, slos.max_missing, "events",
            f"{d.unique} of {stored} stored detections received{other}; "
            f"{d.resumes} resumes replayed {d.replayed} events",
            exercised=d.resumes > 0))
        results.append(at_most(f"altered:{d.name}", d.altered, slos.max_altered, "events",
                               f"{d.stable} received with the stored content"))
        results.append(at_most(f"phantom:{d.name}", d.phantom, slos.max_phantom, "events",
                               "received events that were never stored"))
    results.append(at_most("dashboard_duplicates", sum(d.duplicates for d in dashboards),
                           slos.max_dashboard_duplicates, "events",
                           "events a dashboard received more than once"))
    results.append(at_most("out_of_order", sum(d.out_of_order for d in dashboards),
                           slos.max_out_of_order, "events",
                           "events received after a higher stream seq"))
    return results


def causality_slo(cause: Causality, slos: Slos) -> SloResult:
    limit = slos.max_acked_before_commit
    if not cause.measurable:
        return not_measurable("acked_before_commit", "acks", float(limit), cause.reason)
    detail = f"{cause.checked} acks checked against the real commit time of their row"
    if cause.worst_lead_ms is not None:
        detail += f"; worst ack {cause.worst_lead_ms:.1f} ms before its commit"
    return at_most("acked_before_commit", cause.acked_before_commit, limit, "acks", detail,
                   exercised=cause.checked > 0)


def delivery_slo(lat: LatencyResult, slos: Slos, *, has_dashboards: bool,
                 clock_uncertainty_s: float | None = None) -> SloResult:
    result = _delivery_slo(lat, slos, has_dashboards=has_dashboards)
    if clock_uncertainty_s is None:
        return result
    note = f"; corrected for the backend's clock offset (±{clock_uncertainty_s * 1000:.0f} ms)"
    if clock_uncertainty_s * 1000.0 > slos.delivery_p99_ms / 10.0:
        note += (" — the uncertainty is more than a tenth of the limit: the figure is only "
                 "as good as that")
    return replace(result, detail=result.detail + note)


def _delivery_slo(lat: LatencyResult, slos: Slos, *, has_dashboards: bool) -> SloResult:
    outside = slos.delivery_p99_scope == "outside_faults"
    stats = lat.delivery_outside if outside else lat.delivery
    scope = "outside fault windows" if outside else "all"
    limit = slos.delivery_p99_ms
    if stats.p99 is None:
        detail = ("no dashboards in this scenario" if not has_dashboards
                  else f"no deliveries were measured ({scope})")
        return SloResult("delivery_p99", passed=not has_dashboards, measured=None,
                         limit=limit, unit="ms", detail=detail)
    return SloResult("delivery_p99", passed=stats.p99 <= limit, measured=stats.p99,
                     limit=limit, unit="ms",
                     detail=f"{scope}: {stats.count} deliveries, max {stats.max:.0f} ms")


def drain_slo(drain_s: float | None, slos: Slos, evidence: Evidence) -> SloResult:
    limit = slos.drain_timeout_s
    if drain_s is None:
        detail = ("never drained: outboxes or dashboards still behind at the end"
                  if evidence.generation_ended_at is not None
                  else "no drain evidence (generation end not recorded)")
        return SloResult("drain", passed=False, measured=None, limit=limit, unit="s",
                         detail=detail)
    return SloResult("drain", passed=drain_s <= limit, measured=drain_s, limit=limit,
                     unit="s", detail="from the end of generation until all was delivered")


def recovery_slo(recoveries: Sequence[Recovery], limit: float,
                 backlog: Sequence[SeriesPoint]) -> SloResult:
    if not recoveries:
        return SloResult("recovery", passed=True, measured=None, limit=limit, unit="s",
                         detail="no fault took effect", exercised=False)
    if not backlog:
        return SloResult("recovery", passed=False, measured=None, limit=limit, unit="s",
                         detail="no backlog samples to measure recovery from")
    never = [r for r in recoveries if r.recovery_s is None]
    if never:
        return SloResult("recovery", passed=False, measured=None, limit=limit, unit="s",
                         detail="did not recover after: "
                                + ", ".join(f"step {r.step_index} ({r.kind})" for r in never))
    worst = max(recoveries, key=lambda r: r.recovery_s or 0.0)
    assert worst.recovery_s is not None
    return SloResult("recovery", passed=worst.recovery_s <= limit, measured=worst.recovery_s,
                     limit=limit, unit="s",
                     detail=f"slowest: step {worst.step_index} ({worst.kind})")


def blackout_slos(result: BlackoutResult, slos: Slos) -> list[SloResult]:
    exercised = result.cycles > 0
    ack = ("" if result.worst_ack_s is None
           else f"; slowest acknowledgement {result.worst_ack_s:.1f} s")
    return [
        at_most("blackout_respected", result.leaks + result.unacknowledged, 0, "violations",
                f"{result.cycles} blackout cycles: {result.leaks} detections sent during an "
                f"acknowledged blackout, {result.unacknowledged} activations not "
                f"acknowledged within {slos.blackout_ack_max_s:g} s{ack}",
                exercised=exercised),
        at_most("blackout_flushed", result.unflushed, 0, "cycles",
                "held-back detections arrived after deactivation and the blackout log's "
                "count matches the ledger", exercised=exercised),
    ]


def audit_slos(result: AuditResult, slos: Slos) -> list[SloResult]:
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(result.by_kind.items())) or "none"
    if not result.measurable:
        return [not_measurable("audit_missing", "changes", float(slos.max_audit_missing),
                               result.reason),
                not_measurable("audit_unexpected", "rows", float(slos.max_audit_unexpected),
                               result.reason),
                _append_only(result)]
    return [
        at_most("audit_missing", result.missing, slos.max_audit_missing, "changes",
                f"{result.changes} state changes ({kinds}), each must be in the audit log "
                "once, with its actor, inside its request's window",
                exercised=result.changes > 0),
        at_most("audit_unexpected", result.unexpected, slos.max_audit_unexpected, "rows",
                f"{result.rows} audit rows of this run's targets"),
        _append_only(result),
    ]


def _append_only(result: AuditResult) -> SloResult:
    tried = {op: refused for op, refused in result.append_only.items() if refused is not None}
    if not tried:
        return not_measurable("audit_append_only", "statements", 0.0,
                              "UPDATE/DELETE/TRUNCATE on the audit table were not tried")
    accepted = sorted(op for op, refused in tried.items() if not refused)
    detail = (f"{', '.join(accepted)} accepted on the audit table" if accepted
              else f"{', '.join(sorted(tried))} refused")
    return at_most("audit_append_only", len(accepted), 0, "statements", detail)


def required_slos(cover: Coverage) -> list[SloResult]:
    """One SLO per required recovery path: it fails when the run never took that path."""
    return [SloResult(f"exercised:{path}", passed=cover.exercised(path),
                      measured=float(cover.paths.get(path, 0)), limit=None, unit="times",
                      detail=cover.notes.get(path, "") + " (required by the scenario)")
            for path in cover.required]
