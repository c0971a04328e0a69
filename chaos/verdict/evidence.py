"""The evidence a verdict is computed from: plain data, filled by adapters.

Nothing here comes from counters the backend keeps about itself: the fleet's ledger gives
``generated`` (with every send attempt and its ack), the database gives ``stored`` (with the
real commit time of each row), ``stream_events`` and the blackout log, each dashboard
client's own record gives what it ``received`` (with the content hash of what it got), the
timeline player gives ``fault_windows``, the operator client gives ``blackouts``, every
client gives the ``changes`` it asked for and the database gives the ``audit_rows`` that
should record them. Every time is wall-clock epoch seconds (float) so server and client
times compare directly on one machine.

Every field added after the first version has a default, so an older producer (or an
``evidence.json`` written before it) still makes valid evidence; what it cannot say is
judged "not measurable" rather than passed silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chaos.scenario.windows import FaultWindow

# Whatever one hash function gives for a payload, as long as the ledger side, the database
# side and the dashboards use the same one (``simulator.protocol.content_hash``, an int).
ContentHash = int | str


@dataclass(frozen=True)
class SendAttempt:
    """One try to deliver a detection, as the node saw it: when it was sent and how it
    ended. ``outcome``: the HTTP status as text (``"201"``, ``"200"`` for an idempotent
    duplicate answer, ``"409"``, ``"429"``, ``"503"``...) or the transport failure
    (``"timeout"``, ``"reset"``, ``"refused"``, ``"error"``). ``batch``: sent in a batch."""

    at: float
    outcome: str
    batch: bool = False
    duplicate: bool = False  # the answer said ``"duplicate": true``


@dataclass(frozen=True)
class GeneratedDetection:
    """One ledger entry: an identity the fleet created, with the hash of its content
    (canonical JSON of the payload, as the backend compares it) and its ``captured_at`` as
    written in the payload (the node's clock). ``clock_skew_s``: how wrong that clock was
    (``captured_at`` minus the true generation time); ``acked_at``: when the node received
    its 2xx ack (``None``: never acked); ``attempts``: every send, in order."""

    node_id: str
    seq: int
    content_hash: ContentHash
    captured_at: float | None = None
    acked_at: float | None = None
    ack_status: int | None = None
    attempts: Sequence[SendAttempt] = ()
    clock_skew_s: float = 0.0


@dataclass(frozen=True)
class StoredDetection:
    """One identity as found in the database. ``copies`` > 1 means it was stored more than
    once (the unique key failed); ``content_hash`` is over the stored payload.
    ``committed_at``: the server's own stamp on the row (what the stream carries);
    ``commit_ts``: the real commit time of its transaction (``pg_xact_commit_timestamp``),
    ``None`` when the database cannot tell (``Evidence.commit_times`` says why)."""

    node_id: str
    seq: int
    content_hash: ContentHash
    copies: int = 1
    committed_at: float | None = None
    commit_ts: float | None = None
    stream_seq: int | None = None


@dataclass(frozen=True)
class StreamEvent:
    """One stream event as the database holds it, for this run's window of stream seqs
    (every type: ``detection``, ``node_status``, ``blackout``...). A dashboard must receive
    every one of them; one it received that is not here is a phantom."""

    stream_seq: int
    type: str
    node_id: str | None = None
    seq: int | None = None  # the detection's per-node seq, for detection events


@dataclass(frozen=True)
class ReceivedEvent:
    """One detection event (not node_status/blackout events) as a dashboard client received
    it, in the order received; times in epoch seconds. ``content_hash``: the canonical hash
    of the ``data`` it carried (``None``: the client did not record it)."""

    stream_seq: int
    node_id: str
    seq: int
    received_at: float
    committed_at: float
    captured_at: float | None = None
    content_hash: ContentHash | None = None


@dataclass(frozen=True)
class DashboardRecord:
    """What one dashboard client recorded. ``events`` may be raw (duplicates included) or
    already deduplicated by the client; in the latter case the client's own counts of what
    it dropped go in ``client_duplicates`` / ``client_out_of_order`` and are added to what
    the verdict finds in ``events``.

    ``stream_seqs``: every stream seq it received, of any event type (empty: not
    recorded); ``baseline_seq``: the seq it subscribed after; ``sessions``: how many times
    it was connected (a reconnect is a session after the first; failed attempts are not
    sessions); ``resumes``: sessions opened with ``?since=`` after a break, ``replayed``:
    events those resumes delivered from the database; ``slow_closes``: 4008 closes;
    ``gaps``: holes in the stream it noticed itself; ``fatal``: why it gave up, if it did."""

    name: str
    events: Sequence[ReceivedEvent]
    reconnects: int = 0
    client_duplicates: int = 0
    client_out_of_order: int = 0
    stream_seqs: Sequence[int] = ()
    baseline_seq: int | None = None
    sessions: int = 0
    resumes: int = 0
    replayed: int = 0
    slow_closes: int = 0
    gaps: int = 0
    fatal: str | None = None


@dataclass(frozen=True)
class BlackoutRecord:
    """One blackout cycle of one node, from the operator's and the node's side and the
    blackout log. ``activated_at``: when the operator's activation was answered 2xx;
    ``node_acked_at``: when the node acknowledged ``blackout_on`` (``None``: never);
    ``deactivated_at`` / ``node_off_acked_at`` likewise for the end (``None``: still on at
    the end of the run). ``held_back``: detections the node generated while in blackout
    (the ledger); ``log_queued``: ``detections_queued`` of its blackout-log row (``None``:
    not readable)."""

    node_id: str
    activated_at: float
    node_acked_at: float | None = None
    deactivated_at: float | None = None
    node_off_acked_at: float | None = None
    held_back: int = 0
    log_queued: int | None = None


@dataclass(frozen=True)
class StateChange:
    """A state change a client of the run asked for, for the audit checks. ``kind`` is the
    audit action it must produce (``node.register``, ``node.status``, ``blackout.on``,
    ``blackout.off``, ``command.create``, ``command.ack``...); ``actor`` who asked
    (``enrollment``, the node id, ``operator``); ``target`` what it changed (a node id, a
    command id); ``requested_at``/``answered_at`` bracket the request; ``ok``: answered 2xx
    (a refused change must leave no audit row)."""

    kind: str
    actor: str
    target: str
    requested_at: float
    answered_at: float
    ok: bool = True


@dataclass(frozen=True)
class AuditRow:
    """One row of the audit table, read back after the run (this run's targets only)."""

    id: int
    actor: str
    action: str
    target: str | None
    at: float


@dataclass(frozen=True)
class SeriesPoint:
    t: float
    value: float


@dataclass(frozen=True)
class Evidence:
    """Everything the verdict looks at.

    Scope it to this run: ``stored`` = rows of this run's nodes only (the database may
    outlive runs), and each dashboard's ``events`` = every detection event it received
    from the run's start head on (subscribe with ``since=<head at start>``).

    ``run_started_at``/``generation_ended_at``: when the fleet started and stopped
    generating; ``drained_at``: when every outbox was empty and every dashboard had every
    stored event (``None`` if that never happened within the scenario's ``drain``).
    ``backlog``: total outbox depth across the fleet, sampled; ``acked_per_s``: acked
    detections per second, sampled. ``harness_errors``: what went wrong in the harness
    itself (a step that failed to apply, an adapter that could not read the database...).

    ``commit_times``: ``"measured"`` when every stored row has its real ``commit_ts``,
    otherwise the reason it is not measurable (``track_commit_timestamp`` off, judged from
    the API...). ``stream_events``: the database's stream for this run's window
    (``None``: not readable, e.g. judged from the API). ``ledger_gaps``: holes the fleet's
    own ledger found in its sequence of identities. ``fleet_counters``: what the fleet
    counted of its own recovery paths (``retry_after_honoured``, ``reregistered``...).
    ``audit_rows``: ``None`` when the audit table could not be read;
    ``audit_append_only``: for each of ``UPDATE``/``DELETE``/``TRUNCATE``, whether the
    database refused it at the end of the run (``None``: not tried)."""

    generated: Sequence[GeneratedDetection]
    stored: Sequence[StoredDetection]
    dashboards: Sequence[DashboardRecord]
    fault_windows: Sequence[FaultWindow] = ()
    backlog: Sequence[SeriesPoint] = ()
    acked_per_s: Sequence[SeriesPoint] = ()
    run_started_at: float | None = None
    generation_ended_at: float | None = None
    drained_at: float | None = None
    harness_errors: Sequence[str] = field(default_factory=tuple)
    commit_times: str = "not recorded"
    stream_events: Sequence[StreamEvent] | None = None
    blackouts: Sequence[BlackoutRecord] = ()
    ledger_gaps: int = 0
    fleet_counters: Mapping[str, int] = field(default_factory=dict)
    changes: Sequence[StateChange] = ()
    audit_rows: Sequence[AuditRow] | None = None
    audit_append_only: Mapping[str, bool | None] = field(default_factory=dict)
    # Against a remote backend: its clock minus ours, estimated NTP-style from min-RTT
    # samples, and the uncertainty of that estimate (``None``: one clock, nothing to
    # correct). Producers already express every ``committed_at`` in our clock with it.
    clock_offset_s: float | None = None
    clock_uncertainty_s: float | None = None
