"""Which recovery paths the run actually took, counted from the evidence. A green SLO
whose path was never taken proves little ("held, not exercised"); ``require_exercised``
turns that into a failure."""

from __future__ import annotations

from chaos.scenario.model import COVERAGE_PATHS
from chaos.verdict.evidence import Evidence
from chaos.verdict.result import Coverage

TRANSPORT_FAILURES = frozenset({"timeout", "reset", "refused", "error"})
OVERLOAD = frozenset({"429", "503"})
BACKEND_FAULTS = frozenset({"kill_backend", "pause_backend"})
DATABASE_FAULTS = frozenset({"restart_db", "kill_db", "power_cut"})

NOTES = {
    "idempotency": "retries of an already committed detection answered as a duplicate",
    "ack_lost": "detections whose ack was lost (a failed try, then found stored)",
    "resume": "dashboard sessions resumed with ?since= after a break",
    "slow_consumer": "dashboards closed by the server as too slow (4008)",
    "backend_restart": "backend kills or pauses that took effect",
    "db_outage": "database restarts, kills, power cuts or link faults during ingest",
    "blackout": "blackout cycles acknowledged by their node",
    "overload": "429/503 answers followed by a retry",
}


def coverage(evidence: Evidence, required: tuple[str, ...]) -> Coverage:
    stored = {(s.node_id, s.seq) for s in evidence.stored}
    idempotent = ack_lost = overload = 0
    for g in evidence.generated:
        attempts = list(g.attempts)
        idempotent += sum(1 for a in attempts if a.duplicate)
        failed = [i for i, a in enumerate(attempts) if a.outcome in TRANSPORT_FAILURES]
        if failed and (g.node_id, g.seq) in stored and (
                any(a.duplicate for a in attempts[failed[0] + 1:]) or g.acked_at is None):
            ack_lost += 1
        overload += sum(1 for i, a in enumerate(attempts[:-1]) if a.outcome in OVERLOAD)
    windows = [w for w in evidence.fault_windows if w.took_effect]
    ingest_end = evidence.generation_ended_at or float("inf")
    ingest_start = evidence.run_started_at or float("-inf")
    db = sum(1 for w in windows
             if (w.kind in DATABASE_FAULTS or w.link == "database")
             and w.overlaps(ingest_start, ingest_end))
    paths = {
        "idempotency": idempotent,
        "ack_lost": ack_lost,
        "resume": sum(d.resumes for d in evidence.dashboards),
        "slow_consumer": sum(d.slow_closes for d in evidence.dashboards),
        "backend_restart": sum(1 for w in windows if w.kind in BACKEND_FAULTS),
        "db_outage": db,
        "blackout": sum(1 for b in evidence.blackouts if b.node_acked_at is not None),
        "overload": max(overload, int(evidence.fleet_counters.get("retry_after_honoured", 0))),
    }
    replayed = sum(d.replayed for d in evidence.dashboards)
    notes = dict(NOTES)
    notes["resume"] += f" ({replayed} events replayed)"
    assert set(paths) == set(COVERAGE_PATHS)
    return Coverage(paths=paths, notes=notes, required=required)
