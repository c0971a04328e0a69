"""The one judge: the verdict as a pure function of ``Evidence`` and ``Slos``.

Each question is answered in a module of its own (``_integrity``, ``_dashboards``,
``_latency``, ``_causality``, ``_blackout``, ``_coverage``, ``_audit``); this module turns
their answers into SLO results, marks the ones whose recovery path the run never took,
and writes the forensic trail of every failing SLO's sample. The fleet runner and the
Locust gate both call ``compute_verdict``, so every SLO holds for both.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.scenario.model import Slos
from chaos.verdict._audit import audit
from chaos.verdict._blackout import blackout
from chaos.verdict._causality import causality
from chaos.verdict._coverage import coverage
from chaos.verdict._dashboards import dashboard_result
from chaos.verdict._forensics import Forensics
from chaos.verdict._integrity import accounting as accounting_of
from chaos.verdict._integrity import integrity as integrity_of
from chaos.verdict._latency import (
    backlog_threshold,
    first_receipts,
    in_fault,
    latency,
    recovery,
)
from chaos.verdict._slos import (
    audit_slos,
    blackout_slos,
    causality_slo,
    delivery_slo,
    drain_slo,
    integrity_slos,
    recovery_slo,
    required_slos,
    stream_slos,
)
from chaos.verdict.evidence import ContentHash, Evidence
from chaos.verdict.result import Identity, SloResult, Verdict

__all__ = ["FORENSIC_SAMPLE", "compute_verdict", "first_receipts", "in_fault"]

FORENSIC_SAMPLE = 20


def compute_verdict(evidence: Evidence, slos: Slos) -> Verdict:
    windows = [w for w in evidence.fault_windows if w.took_effect]
    integrity, accounting = integrity_of(evidence), accounting_of(evidence)
    stored: dict[Identity, ContentHash] = {}
    for row in evidence.stored:
        stored.setdefault((row.node_id, row.seq), row.content_hash)
    dashboards = [dashboard_result(record, stored, evidence.stream_events)
                  for record in evidence.dashboards]
    skew = {(g.node_id, g.seq): g.clock_skew_s for g in evidence.generated if g.clock_skew_s}
    lat = latency(evidence.dashboards, windows, skew)
    threshold = backlog_threshold(evidence.backlog, windows, evidence.run_started_at)
    recoveries = [recovery(w, evidence.backlog, threshold) for w in windows
                  if w.ended_at is not None]
    drain_s = None
    if evidence.drained_at is not None and evidence.generation_ended_at is not None:
        drain_s = max(0.0, evidence.drained_at - evidence.generation_ended_at)
    cause = causality(evidence)
    black = blackout(evidence, slos.blackout_ack_max_s)
    cover = coverage(evidence, slos.require_exercised)
    trail = audit(evidence)

    results: list[SloResult] = []
    results += integrity_slos(integrity, accounting, cover, slos, faults=bool(windows),
                              ledger_gaps=evidence.ledger_gaps)
    results += stream_slos(dashboards, len(stored), slos,
                           stream_known=evidence.stream_events is not None)
    results.append(causality_slo(cause, slos))
    results.append(delivery_slo(lat, slos, has_dashboards=bool(evidence.dashboards),
                                clock_uncertainty_s=evidence.clock_uncertainty_s))
    results.append(drain_slo(drain_s, slos, evidence))
    if slos.recovery_max_s is not None:
        results.append(recovery_slo(recoveries, slos.recovery_max_s, evidence.backlog))
    results += blackout_slos(black, slos)
    results += audit_slos(trail, slos)
    results += required_slos(cover)

    harness_errors = list(evidence.harness_errors)
    failed_steps = [w for w in evidence.fault_windows if w.status == "failed"]
    harness_errors += [f"step {w.step_index} ({w.kind}) {w.reason}" for w in failed_steps]
    harness_errors += [f"dashboard {d.name} gave up: {d.fatal}" for d in dashboards if d.fatal]
    if not evidence.generated:
        harness_errors.append("the fleet generated no detections: nothing was proven")
    verdict = Verdict(
        passed=all(r.passed for r in results) and not harness_errors,
        slos=results, integrity=integrity, dashboards=dashboards, latency=lat,
        recoveries=recoveries, drain_s=drain_s, backlog_threshold=threshold,
        skipped=[w for w in evidence.fault_windows if w.status in ("skipped", "cancelled")],
        failed_steps=failed_steps, harness_errors=harness_errors, accounting=accounting,
        causality=cause, blackout=black, coverage=cover, audit=trail)
    verdict.forensics.update(_forensics(verdict, evidence))
    return verdict


def _forensics(verdict: Verdict, evidence: Evidence) -> dict[str, list[str]]:
    """One trail per identity of each failing SLO's sample (at most ``FORENSIC_SAMPLE``)."""
    failed = {slo.name for slo in verdict.failed_slos}
    if not failed:
        return {}
    samples: dict[str, Sequence[Identity]] = {
        "lost": verdict.integrity.lost_sample,
        "duplicated": verdict.integrity.duplicated_sample,
    }
    if verdict.causality is not None:
        samples["acked_before_commit"] = verdict.causality.sample
    if verdict.blackout is not None:
        samples["blackout_respected"] = verdict.blackout.leak_sample
    for d in verdict.dashboards:
        samples[f"missing:{d.name}"] = d.missing_sample
        samples[f"altered:{d.name}"] = d.altered_sample
        samples[f"phantom:{d.name}"] = d.phantom_sample
    index = Forensics(evidence)
    out: dict[str, list[str]] = {}
    for name in sorted(failed):
        sample = samples.get(name)
        if sample:
            out[name] = [index.trail(identity) for identity in sample[:FORENSIC_SAMPLE]]
    if verdict.audit is not None:
        if "audit_missing" in failed:
            out["audit_missing"] = list(verdict.audit.missing_sample)
        if "audit_unexpected" in failed:
            out["audit_unexpected"] = list(verdict.audit.unexpected_sample)
    if verdict.blackout is not None and verdict.blackout.notes:
        for name in ("blackout_respected", "blackout_flushed"):
            if name in failed:
                out.setdefault(name, []).extend(verdict.blackout.notes)
    return out
