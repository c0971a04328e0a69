"""What one Locust process knows about its run: what its edge nodes generated, what its
dashboards received, and how deep its outboxes were over time.

Each process (standalone, a ``--processes`` child or a remote worker) keeps one of these;
the gate asks for it in two phases: ``collect`` after the users stopped (the outboxes are
flushed first, bounded, so a detection generated just before the stop is sent rather than
counted lost; then every generated identity), and ``drain`` to a stream seq the master
picked from the database (every dashboard reads on until it has seen that far). Both
answers are plain lists of tuples: they travel master<-worker as msgpack.

Besides the ledger (every generated identity, every send attempt and its ack), each
process keeps the state changes its edge users asked for (their registrations, with the
request's window and how it ended), which the gate matches against the audit log.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Protocol

import gevent
import gevent.event

from loadtests._dashboard import DashboardSession

__all__ = [
    "CHANGE_MADE",
    "CHANGE_REFUSED",
    "CHANGE_UNKNOWN",
    "AttemptRow",
    "ChangeRow",
    "EdgeOutbox",
    "GeneratedRow",
    "ProcessEvidence",
    "evidence_for",
    "forget",
]

BACKLOG_EVERY_S = 1.0

# (at, outcome, batch, duplicate): one send of one detection (``SendAttempt``'s fields).
AttemptRow = tuple[float, str, bool, bool]
# (node_id, seq, content_hash, captured_at, acked_at, ack_status, attempts): one generated
# detection with every send of it, in order.
GeneratedRow = tuple[str, int, int, float, float | None, int | None, list[AttemptRow]]
# How a state change a client asked for ended: answered 2xx, refused (4xx), or not known
# (the answer was lost or was a 5xx: the change may or may not have been made).
CHANGE_MADE, CHANGE_REFUSED, CHANGE_UNKNOWN = "made", "refused", "unknown"
# (kind, actor, target, requested_at, answered_at, outcome): one state change asked for.
ChangeRow = tuple[str, str, str, float, float, str]


class EdgeOutbox(Protocol):
    """An edge user as the evidence sees it: its outbox depth and a bounded final flush."""

    node_id: str

    def backlog(self) -> int: ...

    def flush_at_stop(self, deadline: float) -> int:
        """Send what is left until the monotonic ``deadline``; the count still unsent."""
        ...


class ProcessEvidence:
    def __init__(self) -> None:
        self.start_head: int | None = None
        self.started = gevent.event.Event()
        self.nodes: list[str] = []
        self.generated: dict[tuple[str, int], tuple[int, float]] = {}  # -> (hash, captured)
        self.acked: dict[tuple[str, int], tuple[float, int]] = {}  # -> (acked_at, status)
        self.attempts: dict[tuple[str, int], list[AttemptRow]] = {}
        self.changes: list[ChangeRow] = []
        self.counters: Counter[str] = Counter()
        self.dashboards: list[DashboardSession] = []
        self.edges: list[EdgeOutbox] = []
        self.backlog: list[tuple[float, int]] = []  # (epoch seconds, total outbox depth)
        self.stopped_at: float | None = None
        self._sampler: gevent.Greenlet | None = None

    def set_start(self, head: int | None) -> None:
        self.start_head = head
        self.started.set()
        if self._sampler is None:
            self._sampler = gevent.spawn(self._sample_backlog)

    def add_edge(self, edge: EdgeOutbox) -> None:
        """Before it registers: the gate reads this node's rows back even if it never acks."""
        self.nodes.append(edge.node_id)
        self.edges.append(edge)

    def record_generated(self, node_id: str, seq: int, content: int, captured_at: float) -> None:
        self.generated[(node_id, seq)] = (content, captured_at)

    def record_ack(self, node_id: str, seq: int, status: int) -> None:
        self.acked.setdefault((node_id, seq), (time.time(), status))

    def record_attempt(self, node_id: str, seq: int, at: float, outcome: str, *,
                       batch: bool, duplicate: bool) -> None:
        """One send of ``(node_id, seq)`` that began at ``at`` and ended with ``outcome``
        (the status as text, or ``timeout``/``reset``/``refused``/``error``)."""
        self.attempts.setdefault((node_id, seq), []).append((at, outcome, batch, duplicate))

    def record_change(self, kind: str, actor: str, target: str, requested_at: float,
                      answered_at: float, outcome: str) -> None:
        """A state change an edge user asked for (``CHANGE_*`` says how it ended)."""
        self.changes.append((kind, actor, target, requested_at, answered_at, outcome))

    def mark_stopped(self) -> None:
        """The users stopped generating (Locust's ``test_stop`` in this process)."""
        if self.stopped_at is None:
            self.stopped_at = time.time()

    def _total_backlog(self) -> int:
        return sum(edge.backlog() for edge in self.edges)

    def _sample_backlog(self) -> None:
        while self.stopped_at is None:  # bounded by the run: mark_stopped ends it
            self.backlog.append((time.time(), self._total_backlog()))
            gevent.sleep(BACKLOG_EVERY_S)

    def flush(self, timeout: float) -> tuple[int, float | None]:
        """Flush every outbox (all at once, each bounded by ``timeout``); (items still
        unsent, wall time the last outbox emptied or None when one did not)."""
        self.mark_stopped()
        deadline = time.monotonic() + timeout
        jobs = [gevent.spawn(edge.flush_at_stop, deadline) for edge in self.edges]
        gevent.joinall(jobs, timeout=timeout + 15)
        gevent.killall(jobs, block=False)  # a flush stuck past its bound is given up
        unsent = self._total_backlog()
        self.backlog.append((time.time(), unsent))  # the last sample: after the flush
        return unsent, (time.time() if unsent == 0 else None)

    def collect(self, flush_timeout: float) -> dict[str, Any]:
        unsent, flushed_at = self.flush(flush_timeout)
        generated: list[GeneratedRow] = []
        for (node, seq), (content, captured) in self.generated.items():
            acked_at, status = self.acked.get((node, seq), (None, None))
            generated.append((node, seq, content, captured, acked_at, status,
                              self.attempts.get((node, seq), [])))
        return {
            "nodes": list(self.nodes), "generated": generated, "acked": len(self.acked),
            "acked_nodes": len({node for node, _ in self.acked}), "unsent": unsent,
            "counters": dict(self.counters), "dashboards": len(self.dashboards),
            "backlog": self.backlog, "stopped_at": self.stopped_at, "flushed_at": flushed_at,
            "changes": self.changes,
        }

    def drain(self, target: int, timeout: float) -> dict[str, Any]:
        """Wait until every dashboard saw ``target`` (or time is up), then report and close."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        records = [session.record(session.wait_for(target, deadline))
                   for session in self.dashboards]
        for session in self.dashboards:
            session.close()
        self.dashboards.clear()
        return {"dashboards": records, "drain_s": round(time.monotonic() - started, 3)}

    def close(self) -> None:
        self.mark_stopped()
        if self._sampler is not None:
            self._sampler.kill(block=False)
        for session in self.dashboards:
            session.close()


_EVIDENCE: dict[int, ProcessEvidence] = {}


def evidence_for(environment: object) -> ProcessEvidence:
    """The evidence of this process's Locust environment (one per environment)."""
    return _EVIDENCE.setdefault(id(environment), ProcessEvidence())


def forget(environment: object) -> ProcessEvidence:
    """Start afresh for a new test run in the same process (web UI restarts)."""
    old = _EVIDENCE.pop(id(environment), None)
    if old is not None:
        old.close()
    return evidence_for(environment)
