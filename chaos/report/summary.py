"""The terminal summary: verdict first, then the few numbers a person checks in 5 seconds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chaos.report._format import number, slo_value
from chaos.report._verdict_parts import accounting_line, audit_lines, coverage_line
from chaos.verdict._stats import Percentiles
from chaos.verdict.result import Verdict, exit_code


def verdict_word(verdict: Verdict) -> str:
    return {0: "PASS", 1: "FAIL", 2: "ERROR"}[exit_code(verdict)]


def render_summary(verdict: Verdict, scenario_name: str = "") -> str:
    lines: list[str] = []
    failed = verdict.failed_slos
    head = f"{verdict_word(verdict)}  {scenario_name}".rstrip()
    if verdict.harness_errors:
        head += f": harness error ({len(verdict.harness_errors)}), see below"
    elif failed:
        head += (f": {len(failed)} of {len(verdict.slos)} SLOs failed: "
                 + ", ".join(slo.name for slo in failed))
    else:
        head += f": all {len(verdict.slos)} SLOs held"
    lines += [head, "=" * max(len(head), 60)]

    name_width = max([len(slo.name) for slo in verdict.slos] + [10])
    lines.append(f"  {'SLO':<{name_width}}  {'measured':>10}  {'limit':>10}  detail")
    for slo in verdict.slos:
        mark = {"FAIL": "FAIL", "not measurable": "n/m ", "not exercised": "ok* "}.get(
            slo.status, "ok  ")
        lines.append(f"{mark} {slo.name:<{name_width}} {slo_value(slo, slo.measured):>10}"
                     f"  {'<= ' + slo_value(slo, slo.limit):>10}  {slo.detail}")

    integ = verdict.integrity
    lines += ["", f"detections: {integ.generated} generated, {integ.stored} stored, "
                  f"{integ.lost} lost, {integ.duplicated} duplicated "
                  f"({integ.stored_twice} twice, {integ.altered} altered, "
                  f"{integ.unexpected} never generated)"]
    if any(s.status == "not exercised" for s in verdict.slos):
        lines.append("  ok* = held, but the recovery path it guards was never taken; "
                     "n/m = not measurable")
    if integ.lost_sample:
        lines.append("  lost e.g.: " + ", ".join(f"{n}#{s}" for n, s in integ.lost_sample[:5]))
    if verdict.accounting is not None:
        lines.append(accounting_line(verdict))
    if verdict.dashboards:
        lines.append("dashboards:  name           received  missing  phantom  altered  dup  "
                     "out-of-order  sessions  resumes")
        for d in verdict.dashboards:
            lines.append(f"             {d.name:<14} {d.received:>8}  {d.missing:>7}  "
                         f"{d.phantom:>7}  {d.altered:>7}  {d.duplicates:>3}  "
                         f"{d.out_of_order:>12}  {d.sessions:>8}  {d.resumes:>7}")
    lines.append(coverage_line(verdict))
    lines += audit_lines(verdict)

    lat = verdict.latency
    lines += ["", f"latency (ms)             {'n':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
                  f"{'max':>7}"]
    for label, stats in (("delivery, all", lat.delivery),
                         ("delivery, in faults", lat.delivery_inside),
                         ("delivery, outside", lat.delivery_outside),
                         ("end-to-end, all", lat.end_to_end),
                         ("end-to-end, in faults", lat.end_to_end_inside),
                         ("end-to-end, outside", lat.end_to_end_outside)):
        lines.append(f"  {label:<22} {_row(stats)}")

    if verdict.recoveries:
        lines += ["", f"recovery (backlog back to <= {verdict.backlog_threshold:g}):"]
        for r in verdict.recoveries:
            took = "never" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
            lines.append(f"  step {r.step_index} {r.description}: {took}")
    drain = "never" if verdict.drain_s is None else f"{verdict.drain_s:.1f} s"
    lines.append(f"drain: {drain}")
    if verdict.skipped:
        lines += ["", "skipped steps (not run, not counted as faults):"]
        lines += [f"  step {w.step_index} {w.description}: {w.reason}" for w in verdict.skipped]
    if verdict.forensics:
        lines += ["", "why it is red (first 5 of each failing SLO's sample; all in report.json):"]
        for name, trail in verdict.forensics.items():
            lines.append(f"  {name}:")
            lines += [f"    {line}" for line in trail[:5]]
    if verdict.harness_errors:
        lines += ["", "harness errors:"]
        lines += [f"  {error}" for error in verdict.harness_errors]
    return "\n".join(lines) + "\n"


def run_notes(environment: Mapping[str, str], clock_offset_s: float | None,
              clock_uncertainty_s: float | None) -> list[str]:
    """The lines about how the run could see the backend, for the summary's head: an
    unverified TLS link first (loudly: such a run proves nothing about the deployment's
    TLS), then the backend's clock offset (what every latency was corrected by)."""
    notes: list[str] = []
    tls = environment.get("tls")
    if tls and tls.startswith("INSECURE"):
        notes.append(f"!! TLS {tls} !!")
    if clock_offset_s is not None:
        spread = ("" if clock_uncertainty_s is None
                  else f" ± {clock_uncertainty_s * 1000:.1f} ms")
        notes.append(f"backend clock: {clock_offset_s * 1000:+.1f} ms{spread} from ours "
                     "(server times corrected by it)")
    return notes


def with_run_notes(summary: str, notes: Sequence[str]) -> str:
    """``summary`` (from :func:`render_summary`) with ``notes`` right under its head rule."""
    if not notes:
        return summary
    lines = summary.split("\n")
    at = 2 if len(lines) > 2 else len(lines)
    return "\n".join([*lines[:at], *notes, *lines[at:]])


def _row(stats: Percentiles) -> str:
    cells = [stats.p50, stats.p95, stats.p99, stats.max]
    return f"{stats.count:>7} " + " ".join(f"{number(v):>7}" for v in cells)
