"""``index.html``: one self-contained page (inline CSS and SVG, no script) that opens from
disk: verdict, SLO table, the three plots with fault windows shaded, scenario, environment."""

from __future__ import annotations

from html import escape

from chaos.report._format import number, slo_value
from chaos.report._svg import MAX_POINTS, Band, chart
from chaos.report._verdict_parts import accounting_line, audit_lines, coverage_line
from chaos.report.run_info import RunInfo
from chaos.report.summary import verdict_word
from chaos.verdict.compute import first_receipts
from chaos.verdict.evidence import Evidence
from chaos.verdict.result import Verdict

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:900px;color:#222}
h1{margin:0 0 4px}.verdict{font-size:22px;font-weight:700;padding:8px 12px;border-radius:6px}
.pass{background:#e3f6e6;color:#17612a}.fail{background:#fde4e1;color:#9b1c12}
.error{background:#fff1cc;color:#7a5200}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:3px 10px;text-align:left;
border-bottom:1px solid #ddd}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{color:#9b1c12;font-weight:600}pre{background:#f6f6f6;padding:10px;overflow:auto}
svg .title{font-weight:600;font-size:13px}svg .tick{font-size:11px;fill:#555}
svg .grid{stroke:#eee}svg .axis{stroke:#888}svg .series{fill:none;stroke:#1f5fbf;
stroke-width:1.5}svg .points circle{fill:#1f5fbf;opacity:.55}
svg .fault-window{fill:#e8590c;opacity:.18}svg .limit{stroke:#c92a2a;stroke-dasharray:5 4}
svg .limit-label{font-size:11px;fill:#c92a2a}svg .empty{fill:#999}
"""


def render_html(verdict: Verdict, evidence: Evidence, run: RunInfo) -> str:
    scenario = run.scenario
    t0 = _origin(evidence, run)
    bands = [Band(w.started_at - t0, (w.ended_at if w.ended_at is not None else
                                      w.started_at) - t0,
                  f"step {w.step_index}: {w.description} ({w.status})")
             for w in evidence.fault_windows if w.took_effect and w.started_at is not None]
    latency_points = _latency_points(evidence, t0, scenario.slos.delivery_p99_ms)
    backlog_points = [(p.t - t0, p.value) for p in evidence.backlog]
    throughput_points = [(p.t - t0, p.value) for p in evidence.acked_per_s]
    x_max = max([x for x, _ in latency_points + backlog_points + throughput_points]
                + [b.end for b in bands] + [scenario.duration_s])
    word = verdict_word(verdict)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sentinel-chaos {escape(scenario.name)}: {word}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>sentinel-chaos: {escape(scenario.name)}</h1>",
        f"<p>{escape(scenario.description)}</p>",
        f'<div class="verdict {word.lower()}">{word}: '
        + (f"{len(verdict.failed_slos)} of {len(verdict.slos)} SLOs failed"
           if verdict.failed_slos else f"all {len(verdict.slos)} SLOs held")
        + (" (harness error)" if verdict.harness_errors else "") + "</div>",
        "<h2>SLOs</h2><table><tr><th></th><th>SLO</th><th>measured</th><th>limit</th>"
        "<th>detail</th></tr>",
    ]
    for slo in verdict.slos:
        parts.append(f'<tr class="{"ok" if slo.passed else "bad"}">'
                     f"<td>{escape(slo.status)}</td><td>{escape(slo.name)}</td>"
                     f'<td class="num">{slo_value(slo, slo.measured)}</td>'
                     f'<td class="num">&le; {slo_value(slo, slo.limit)}</td>'
                     f"<td>{escape(slo.detail)}</td></tr>")
    parts.append("</table>")
    lat = verdict.latency
    parts.append("<h2>Latency (ms)</h2><table><tr><th></th><th>n</th><th>p50</th>"
                 "<th>p95</th><th>p99</th><th>max</th></tr>")
    for label, stats in (("delivery, all", lat.delivery),
                         ("delivery, inside fault windows", lat.delivery_inside),
                         ("delivery, outside fault windows", lat.delivery_outside),
                         ("end-to-end, all", lat.end_to_end),
                         ("end-to-end, inside fault windows", lat.end_to_end_inside),
                         ("end-to-end, outside fault windows", lat.end_to_end_outside)):
        cells = "".join(f'<td class="num">{number(v)}</td>'
                        for v in (stats.count, stats.p50, stats.p95, stats.p99, stats.max))
        parts.append(f"<tr><td>{label}</td>{cells}</tr>")
    parts.append("</table><h2>Plots</h2><p>Shaded: fault windows (hover for the step).</p>")
    parts.append(chart("Delivery latency (receipt - committed_at)", latency_points,
                       bands=bands, x_max=x_max, y_label="ms", style="points",
                       limit=scenario.slos.delivery_p99_ms,
                       limit_label=f"p99 limit {scenario.slos.delivery_p99_ms:g} ms",
                       css_class="chart latency"))
    parts.append(chart("Outbox backlog (all nodes)", backlog_points, bands=bands, x_max=x_max,
                       y_label="detections", css_class="chart backlog"))
    parts.append(chart("Ingest throughput (acked per second)", throughput_points, bands=bands,
                       x_max=x_max, y_label="det/s", css_class="chart throughput"))
    parts += _details(verdict)
    parts.append("<h2>Fault steps</h2><table><tr><th>#</th><th>step</th><th>planned</th>"
                 "<th>status</th><th>reason</th></tr>")
    for w in evidence.fault_windows:
        parts.append(f"<tr><td>{w.step_index}</td><td>{escape(w.description)}</td>"
                     f"<td>at {w.planned_at_s:g}s for {w.planned_for_s:g}s</td>"
                     f"<td>{escape(w.status)}</td><td>{escape(w.reason)}</td></tr>")
    parts.append("</table><h2>Environment</h2><table>")
    for key, value in sorted(run.environment.items()):
        parts.append(f"<tr><th>{escape(key)}</th><td>{escape(value)}</td></tr>")
    parts.append(f"</table><h2>Scenario ({escape(scenario.source)})</h2>"
                 f"<pre>{escape(scenario.text)}</pre></body></html>")
    return "\n".join(parts) + "\n"


def _latency_points(evidence: Evidence, t0: float, limit_ms: float
                    ) -> list[tuple[float, float]]:
    """(seconds into the run, delivery ms), thinned while built so a campaign of millions
    of deliveries stays a readable page; every delivery over the limit is kept."""
    total = sum(len(record.events) for record in evidence.dashboards)
    stride = max(1, total // MAX_POINTS)
    points: list[tuple[float, float]] = []
    index = 0
    for record in evidence.dashboards:
        for event in first_receipts(record):
            ms = (event.received_at - event.committed_at) * 1000.0
            if index % stride == 0 or ms > limit_ms:
                points.append((event.received_at - t0, ms))
            index += 1
    return points


def _origin(evidence: Evidence, run: RunInfo) -> float:
    for candidate in (evidence.run_started_at, run.started_at):
        if candidate is not None:
            return candidate
    times = [p.t for p in evidence.backlog] + [
        e.received_at for record in evidence.dashboards for e in record.events]
    return min(times, default=0.0)


def _details(verdict: Verdict) -> list[str]:
    integ = verdict.integrity
    parts = ["<h2>Detections</h2><table>",
             f'<tr><td>generated</td><td class="num">{integ.generated}</td></tr>',
             f'<tr><td>stored</td><td class="num">{integ.stored}</td></tr>',
             f'<tr><td>lost</td><td class="num">{integ.lost}</td></tr>',
             f'<tr><td>duplicated (twice / altered / never generated)</td><td class="num">'
             f"{integ.duplicated} ({integ.stored_twice} / {integ.altered} / "
             f"{integ.unexpected})</td></tr></table>"]
    if verdict.accounting is not None:
        parts.append(f"<p>{escape(accounting_line(verdict))}</p>")
    if verdict.dashboards:
        parts.append("<h2>Dashboards</h2><table><tr><th>name</th><th>received</th>"
                     "<th>stable</th><th>missing</th><th>phantom</th><th>altered</th>"
                     "<th>duplicates</th><th>out of order</th><th>sessions</th>"
                     "<th>resumes (replayed)</th></tr>")
        for d in verdict.dashboards:
            parts.append(f"<tr><td>{escape(d.name)}</td>" + "".join(
                f'<td class="num">{v}</td>'
                for v in (d.received, d.stable, d.missing, d.phantom, d.altered,
                          d.duplicates, d.out_of_order, d.sessions,
                          f"{d.resumes} ({d.replayed})"))
                + "</tr>")
        parts.append("</table>")
    parts.append(f"<h2>Coverage</h2><p>{escape(coverage_line(verdict))}</p>")
    audit = audit_lines(verdict)
    if audit:
        parts.append("<h2>Audit</h2>" + "".join(f"<p>{escape(line)}</p>" for line in audit))
    if verdict.forensics:
        parts.append("<h2>Why it is red</h2>")
        for name, trail in verdict.forensics.items():
            parts.append(f"<h3>{escape(name)}</h3><ul>"
                         + "".join(f"<li><code>{escape(line)}</code></li>" for line in trail)
                         + "</ul>")
    if verdict.recoveries:
        parts.append(f"<h2>Recovery</h2><p>Backlog back to &le; "
                     f"{verdict.backlog_threshold:g} (its level before the first fault).</p>"
                     "<table>")
        for r in verdict.recoveries:
            took = "never" if r.recovery_s is None else f"{r.recovery_s:.1f} s"
            parts.append(f"<tr><td>step {r.step_index}: {escape(r.description)}</td>"
                         f'<td class="num">{took}</td></tr>')
        parts.append("</table>")
    if verdict.skipped:
        parts.append("<h2>Skipped steps</h2><ul>" + "".join(
            f"<li>step {w.step_index} {escape(w.description)}: {escape(w.reason)}</li>"
            for w in verdict.skipped) + "</ul>")
    if verdict.harness_errors:
        parts.append("<h2>Harness errors</h2><ul>" + "".join(
            f"<li>{escape(e)}</li>" for e in verdict.harness_errors) + "</ul>")
    return parts
