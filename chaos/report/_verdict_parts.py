"""The parts of a verdict beyond the SLO table, as plain data: the Jepsen-style accounting,
acks against commits, blackouts, coverage (what the run exercised), the audit trail and
the forensic trails. ``report.json`` carries them as they are; the summary and the HTML
page render the same dicts, so the three never disagree."""

from __future__ import annotations

from typing import Any

from chaos.verdict.result import Verdict


def verdict_parts(verdict: Verdict) -> dict[str, Any]:
    acc, cause, black, cover, audit = (verdict.accounting, verdict.causality,
                                       verdict.blackout, verdict.coverage, verdict.audit)
    return {
        "accounting": None if acc is None else {
            "acked_stored": acc.acked_stored, "lost": acc.lost, "recovered": acc.recovered,
            "unsent": acc.unsent, "stored_twice": acc.stored_twice,
            "lost_sample": [list(i) for i in acc.lost_sample],
            "unsent_sample": [list(i) for i in acc.unsent_sample]},
        "causality": None if cause is None else {
            "checked": cause.checked, "acked_before_commit": cause.acked_before_commit,
            "measurable": cause.measurable, "reason": cause.reason,
            "worst_lead_ms": cause.worst_lead_ms, "sample": [list(i) for i in cause.sample]},
        "blackout": None if black is None else {
            "cycles": black.cycles, "leaks": black.leaks,
            "unacknowledged": black.unacknowledged, "unflushed": black.unflushed,
            "worst_ack_s": black.worst_ack_s, "notes": list(black.notes)},
        "coverage": None if cover is None else {
            "paths": dict(cover.paths), "notes": dict(cover.notes),
            "required": list(cover.required)},
        "audit": None if audit is None else {
            "measurable": audit.measurable, "reason": audit.reason,
            "changes": audit.changes, "rows": audit.rows, "missing": audit.missing,
            "unexpected": audit.unexpected, "by_kind": dict(audit.by_kind),
            "append_only": dict(audit.append_only),
            "missing_sample": list(audit.missing_sample),
            "unexpected_sample": list(audit.unexpected_sample)},
        "forensics": {name: list(lines) for name, lines in verdict.forensics.items()},
    }


def coverage_line(verdict: Verdict) -> str:
    """``exercised: idempotency 12, resume 3 (40 replayed), ...; not exercised: ...``"""
    cover = verdict.coverage
    if cover is None:
        return "exercised: not recorded"
    taken = [f"{path} {n}" for path, n in cover.paths.items() if n]
    never = [path for path, n in cover.paths.items() if not n]
    return ("exercised: " + (", ".join(taken) or "nothing")
            + ("; not exercised: " + ", ".join(never) if never else ""))


def accounting_line(verdict: Verdict) -> str:
    acc = verdict.accounting
    if acc is None:
        return ""
    return (f"accounting: acked+stored {acc.acked_stored}, acked+NOT stored (lost) {acc.lost}, "
            f"not acked+stored (recovered) {acc.recovered}, not acked+not stored (unsent) "
            f"{acc.unsent}, stored twice {acc.stored_twice}")


def audit_lines(verdict: Verdict) -> list[str]:
    audit = verdict.audit
    if audit is None:
        return []
    if not audit.measurable:
        return [f"audit: not measurable ({audit.reason})"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(audit.by_kind.items())) or "none"
    refused = ", ".join(f"{op} {'refused' if ok else 'ACCEPTED' if ok is False else 'not tried'}"
                        for op, ok in audit.append_only.items())
    return [f"audit: {audit.changes} changes ({kinds}); {audit.rows} rows; "
            f"{audit.missing} missing, {audit.unexpected} unexpected; append-only: {refused}"]
