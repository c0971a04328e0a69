"""Each dashboard against the stored set and the database's stream: what it missed, what
it got twice or out of order, what it got that was never stored (phantom, Jepsen's
"unexpected") and what it got with content other than the stored content (altered)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chaos.verdict.evidence import ContentHash, DashboardRecord, StreamEvent
from chaos.verdict.result import DashboardResult, Identity

SAMPLE = 20
DETECTION = "detection"


def dashboard_result(record: DashboardRecord, stored: Mapping[Identity, ContentHash],
                     stream: Sequence[StreamEvent] | None) -> DashboardResult:
    """``stored``: identity -> stored content hash; ``stream``: the database's stream events
    of the run's window (``None``: unknown, so only detections are checked)."""
    # Identities the database really has: this run's stored rows, and (when the stream is
    # known) any detection on the database's stream, so that another fleet's nodes on a
    # shared backend are not taken for phantoms.
    real = set(stored)
    if stream is not None:
        real |= {(e.node_id, e.seq) for e in stream
                 if e.type == DETECTION and e.node_id is not None and e.seq is not None}
    seen_seqs: set[int] = set()
    seen_ids: set[Identity] = set()
    phantom: set[Identity] = set()
    altered: set[Identity] = set()
    duplicates = out_of_order = highest = 0
    for event in record.events:
        identity = (event.node_id, event.seq)
        if event.stream_seq in seen_seqs or identity in seen_ids:
            duplicates += 1
            continue
        seen_seqs.add(event.stream_seq)
        seen_ids.add(identity)
        if event.stream_seq < highest:
            out_of_order += 1
        highest = max(highest, event.stream_seq)
        stored_hash = stored.get(identity)
        if identity not in real:
            phantom.add(identity)
        elif stored_hash is None:
            continue
        elif event.content_hash is not None and event.content_hash != stored_hash:
            altered.add(identity)
    missing = sorted(set(stored) - seen_ids)
    missing_events, phantom_seqs = _other_events(record, stream)
    stable = len((seen_ids & set(stored)) - altered)
    sessions = record.sessions
    reconnects = max(sessions - 1, 0) if sessions else record.reconnects
    phantom_sample = sorted(phantom)[:SAMPLE]
    return DashboardResult(
        name=record.name, received=len(record.events), unique=len(seen_ids & set(stored)),
        missing=len(missing) + len(missing_events),
        duplicates=duplicates + record.client_duplicates,
        out_of_order=out_of_order + record.client_out_of_order, reconnects=reconnects,
        missing_sample=missing[:SAMPLE], stable=stable,
        phantom=len(phantom) + len(phantom_seqs - seen_seqs), altered=len(altered),
        missing_events=len(missing_events), sessions=sessions, resumes=record.resumes,
        replayed=record.replayed, slow_closes=record.slow_closes, fatal=record.fatal,
        phantom_sample=phantom_sample, altered_sample=sorted(altered)[:SAMPLE],
        missing_events_sample=missing_events[:SAMPLE])


def _other_events(record: DashboardRecord, stream: Sequence[StreamEvent] | None
                  ) -> tuple[list[int], set[int]]:
    """Stream events of types other than detection that the dashboard skipped, and stream
    seqs it received that the database never had. Detections are judged by identity above;
    this catches a skipped node_status or blackout event, which no identity names."""
    if stream is None or not record.stream_seqs:
        return [], set()
    baseline = record.baseline_seq if record.baseline_seq is not None else -1
    received = set(record.stream_seqs)
    known = {e.stream_seq for e in stream}
    missing = sorted(e.stream_seq for e in stream
                     if e.type != DETECTION and e.stream_seq > baseline
                     and e.stream_seq not in received)
    # Only the window the database was read for can be judged: a seq above its top may be
    # a real event committed after the read (a node going offline once the fleet stopped).
    top = max(known, default=0)
    unknown = {s for s in received if s not in known and baseline < s <= top}
    return missing, unknown
