"""What one Locust process knows about its run: nodes, acked identities, dashboards.

Each process (standalone, a ``--processes`` child or a remote worker) keeps one of these;
the gate asks for it in two phases: ``collect`` after the users stopped (which nodes,
which ``(node_id, seq)`` were acked), then ``drain`` to a stream seq the master picked
from the database (every dashboard reads on until it has seen that far).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import gevent.event

from loadtests._dashboard import DashboardSession

__all__ = ["ProcessEvidence", "evidence_for", "forget"]


class ProcessEvidence:
    def __init__(self) -> None:
        self.start_head: int | None = None
        self.started = gevent.event.Event()
        self.acked: dict[str, dict[int, int]] = {}  # node -> seq -> content hash
        self.outbox_left: dict[str, int] = {}
        self.counters: Counter[str] = Counter()
        self.dashboards: list[DashboardSession] = []

    def set_start(self, head: int | None) -> None:
        self.start_head = head
        self.started.set()

    def add_node(self, node_id: str) -> None:
        self.acked.setdefault(node_id, {})

    def record_ack(self, node_id: str, seq: int, content: int) -> None:
        self.acked.setdefault(node_id, {})[seq] = content

    def collect(self) -> dict[str, Any]:
        return {
            "acked": {node: sorted(seqs.items()) for node, seqs in self.acked.items()},
            "outbox_left": dict(self.outbox_left),
            "counters": dict(self.counters),
            "dashboards": len(self.dashboards),
        }

    def drain(self, target: int, timeout: float) -> dict[str, Any]:
        """Wait until every dashboard saw ``target`` (or time is up), then report and close."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        for session in self.dashboards:
            session.wait_for(target, deadline)
        receipts = [session.receipt() for session in self.dashboards]
        latencies = [round(x, 2) for s in self.dashboards for x in s.latencies_ms]
        committed = [round(t, 4) for s in self.dashboards for t in s.committed_at]
        for session in self.dashboards:
            session.close()
        self.dashboards.clear()
        return {"dashboards": receipts, "latencies_ms": latencies, "committed_at": committed,
                "drain_s": round(time.monotonic() - started, 3)}


_EVIDENCE: dict[int, ProcessEvidence] = {}


def evidence_for(environment: object) -> ProcessEvidence:
    """The evidence of this process's Locust environment (one per environment)."""
    return _EVIDENCE.setdefault(id(environment), ProcessEvidence())


def forget(environment: object) -> ProcessEvidence:
    """Start afresh for a new test run in the same process (web UI restarts)."""
    old = _EVIDENCE.pop(id(environment), None)
    if old is not None:
        for session in old.dashboards:
            session.close()
    return evidence_for(environment)
