"""A run's ``Evidence``, assembled from its own sources once the fleet has closed: the
fleet's ledger, the database (or, without one, the read API) and the operator adapter.

What cannot be read is said, never guessed: a database that cannot be read is a harness
error and its fields stay "not measurable"; judged from the API, the commit times, the
stream and the audit log are not measurable at all.

Against a remote backend (``RunSources.clock_offset``) every server stamp is brought to
our clock here, once: a dashboard's ``committed_at``, a stored row's ``committed_at``
and ``commit_ts`` and an audit row's ``at``, minus the estimated offset (the database
is taken to keep the server's clock). Every latency the verdict computes is then a
difference of two of our times, honest to within the estimate's uncertainty, which the
evidence carries.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from chaos.runner._changes import FleetChanges, blackout_records, state_changes
from chaos.runner._database_evidence import DatabaseEvidence, database_evidence
from chaos.runner.adapters import BlackoutCall
from chaos.runner.evidence import ledger_evidence, stored_from_api
from chaos.scenario.windows import FaultWindow
from chaos.verdict.evidence import DashboardRecord, Evidence, SeriesPoint, StoredDetection
from simulator import FleetCounters
from simulator.clock_offset import OffsetEstimate
from simulator.ledger import Ledger

__all__ = ["RunSources", "assemble_evidence"]

JUDGED_FROM_API = "judged from the API (no database access)"


@dataclass
class RunSources:
    """Where a run's evidence comes from. ``start_head``/``end_head``: the database's
    stream head when the run started and when the dashboards had drained (``None``:
    unknown; the end then is the head when the evidence is read). ``ssl_context``: the
    run's TLS context for the read API; ``clock_offset``: the backend's clock against ours
    (``None``: one clock, nothing to correct)."""

    state_dir: Path
    node_ids: Sequence[str]
    database_url: str | None
    api_url: str
    viewer_token: str
    counters: FleetCounters
    blackout_calls: Sequence[BlackoutCall] = ()
    start_head: int | None = None
    end_head: int | None = None
    harness_errors: list[str] = field(default_factory=list)
    ssl_context: ssl.SSLContext | None = None
    clock_offset: OffsetEstimate | None = None


def _fleet_counters(counters: FleetCounters, ledger: Ledger) -> dict[str, int]:
    """What the fleet counted of its own recovery paths (this process's totals)."""
    return {
        "retry_after_honoured": ledger.retry_after_honoured(),
        "retry_after_waits": counters.retry_after_waits,
        "retries": counters.retries,
        "transport_errors": counters.transport_errors,
        "duplicates": counters.duplicates,
        "registrations": counters.registrations,
        "heartbeat_failures": counters.heartbeat_failures,
        "commands": counters.commands,
    }


async def assemble_evidence(src: RunSources, *, fault_windows: Sequence[FaultWindow],
                            backlog: Sequence[SeriesPoint], acked_per_s: Sequence[SeriesPoint],
                            run_started_at: float, generation_ended_at: float | None,
                            drained_at: float | None) -> Evidence:
    errors = src.harness_errors
    db: DatabaseEvidence | None = None
    if src.database_url:
        if src.start_head is None:
            errors.append("the stream head at the start of the run was not read")
        try:
            db = await database_evidence(src.database_url, src.node_ids,
                                         since=src.start_head or 0, upto=src.end_head)
        except Exception as exc:
            errors.append(f"could not read the database: {exc!r}")
    generated, dashboards = ledger_evidence(src.state_dir, src.node_ids,
                                            all_nodes=db is not None)
    with Ledger(src.state_dir) as ledger:
        fleet = FleetChanges(changes=ledger.changes(), command_acks=ledger.command_acks())
        ledger_gaps = ledger.identity_gaps()
        counters = _fleet_counters(src.counters, ledger)
    if db is not None:
        stored = db.stored
    else:
        try:
            stored = (await stored_from_api(src.api_url, src.viewer_token, src.node_ids,
                                            ssl_context=src.ssl_context)
                      if not src.database_url else [])
        except Exception as exc:
            errors.append(f"could not read the stored detections: {exc!r}")
            stored = []
    audit_rows = db.audit_rows if db is not None else None
    clock = src.clock_offset
    if clock is not None:
        dashboards = [_dashboard_on_our_clock(d, clock) for d in dashboards]
        stored = [_stored_on_our_clock(s, clock) for s in stored]
        if audit_rows is not None:
            audit_rows = [replace(a, at=clock.to_local(a.at)) for a in audit_rows]
    return Evidence(
        generated=generated, stored=stored, dashboards=dashboards,
        fault_windows=list(fault_windows), backlog=list(backlog),
        acked_per_s=list(acked_per_s), run_started_at=run_started_at,
        generation_ended_at=generation_ended_at, drained_at=drained_at,
        harness_errors=tuple(errors),
        commit_times=(db.commit_times if db is not None
                      else JUDGED_FROM_API if not src.database_url
                      else "the database could not be read"),
        stream_events=db.stream_events if db is not None else None,
        blackouts=blackout_records(src.blackout_calls, fleet,
                                   db.blackout_queued if db is not None else None),
        ledger_gaps=ledger_gaps, fleet_counters=counters,
        changes=state_changes(src.blackout_calls, fleet, audit_rows),
        audit_rows=audit_rows,
        audit_append_only=db.audit_append_only if db is not None else {},
        clock_offset_s=clock.offset_s if clock is not None else None,
        clock_uncertainty_s=clock.uncertainty_s if clock is not None else None)


def _dashboard_on_our_clock(record: DashboardRecord, clock: OffsetEstimate) -> DashboardRecord:
    events = [replace(e, committed_at=clock.to_local(e.committed_at)) for e in record.events]
    return replace(record, events=events)


def _stored_on_our_clock(row: StoredDetection, clock: OffsetEstimate) -> StoredDetection:
    return replace(
        row,
        committed_at=None if row.committed_at is None else clock.to_local(row.committed_at),
        commit_ts=None if row.commit_ts is None else clock.to_local(row.commit_ts))
