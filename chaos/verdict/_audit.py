"""The audit trail against the state changes the run's clients caused: each change must
appear exactly once, with its actor, action and target, stamped inside the window between
its request and its answer; rows nobody caused are unexpected; and the table must refuse
UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

from collections import Counter, defaultdict

from chaos.verdict.evidence import AuditRow, Evidence, StateChange
from chaos.verdict.result import AuditResult

SAMPLE = 20
# Float rounding of two stamps of the same clock; the window itself is not widened.
SLACK_S = 0.005
APPEND_ONLY_OPS = ("UPDATE", "DELETE", "TRUNCATE")


def audit(evidence: Evidence) -> AuditResult:
    made = [c for c in evidence.changes if c.ok]
    by_kind = dict(Counter(c.kind for c in made))
    append_only = {op: evidence.audit_append_only.get(op) for op in APPEND_ONLY_OPS}
    if evidence.audit_rows is None:
        return AuditResult(measurable=False, changes=len(made), rows=0, missing=0,
                           unexpected=0, by_kind=by_kind, append_only=append_only,
                           reason="the audit table could not be read")
    rows: dict[tuple[str, str | None], list[AuditRow]] = defaultdict(list)
    for row in sorted(evidence.audit_rows, key=lambda r: r.id):
        rows[(row.action, row.target)].append(row)
    used: set[int] = set()
    missing: list[str] = []
    t0 = evidence.run_started_at or 0.0
    for change in sorted(made, key=lambda c: c.requested_at):
        problem = _match(change, rows[(change.kind, change.target)], used, t0)
        if problem:
            missing.append(problem)
    unexpected = [f"audit row {r.id}: {r.action} {r.target} by {r.actor} at +{r.at - t0:.3f}s "
                  "matches no change a client of the run asked for"
                  for r in sorted(evidence.audit_rows, key=lambda r: r.id) if r.id not in used]
    return AuditResult(measurable=True, changes=len(made), rows=len(evidence.audit_rows),
                       missing=len(missing), unexpected=len(unexpected), by_kind=by_kind,
                       append_only=append_only, missing_sample=missing[:SAMPLE],
                       unexpected_sample=unexpected[:SAMPLE])


def _match(change: StateChange, candidates: list[AuditRow], used: set[int], t0: float) -> str:
    """Claim the row that records ``change``; return what is wrong when there is none."""
    lo, hi = change.requested_at - SLACK_S, change.answered_at + SLACK_S
    free = [r for r in candidates if r.id not in used]
    for row in free:
        if row.actor == change.actor and lo <= row.at <= hi:
            used.add(row.id)
            return ""
    what = (f"{change.kind} {change.target} by {change.actor} asked at "
            f"+{change.requested_at - t0:.3f}s, answered at +{change.answered_at - t0:.3f}s")
    if not free:
        return f"{what}: no audit row"
    wrong_actor = [r for r in free if lo <= r.at <= hi]
    if wrong_actor:
        used.add(wrong_actor[0].id)
        return f"{what}: audit row {wrong_actor[0].id} names actor {wrong_actor[0].actor!r}"
    nearest = min(free, key=lambda r: abs(r.at - change.requested_at))
    return (f"{what}: no audit row inside the request's window "
            f"(nearest {nearest.at - change.requested_at:+.3f} s, row {nearest.id})")
