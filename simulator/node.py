"""In-memory state of one simulated edge node (the durable copy lives in the fleet's SQLite file).

A node is a plain record, not a task: the fleet's central scheduler decides when
each node generates, sends, heartbeats and polls, so 10,000 nodes cost 10,000
small objects and a few heap entries, not 10,000 coroutines and HTTP clients.
"""

from __future__ import annotations

from collections import deque

__all__ = ["NodeState"]


class NodeState:
    """One edge node: identity, token, seq counter, outbox mirror, link state, blackout."""

    __slots__ = (
        "attempt",
        "blackout",
        "blackout_queued",
        "hb_inflight",
        "idx",
        "inflight",
        "last_retry_after",
        "last_status",
        "next_seq",
        "node_id",
        "pending",
        "queued",
        "registering",
        "retry_at",
        "retry_reason_at",
        "status",
        "status_unsure",
        "token",
    )

    def __init__(self, idx: int, node_id: str, token: str | None, next_seq: int) -> None:
        self.idx = idx
        self.node_id = node_id
        self.token = token
        self.next_seq = next_seq
        # Committed to the outbox and not yet acked, in seq order: (seq, body).
        self.pending: deque[tuple[int, bytes]] = deque()
        self.inflight = False  # a detection request is out
        self.queued = False  # a send is waiting in the work queue
        self.hb_inflight = False
        self.registering = False
        self.blackout = False
        self.blackout_queued = 0
        self.attempt = 0
        self.retry_at = 0.0  # loop time before which nothing is sent
        self.retry_reason_at = 0.0  # loop time of the 429/503 that set retry_at
        self.last_retry_after: float | None = None
        self.last_status = 0
        # The node status the backend last told this node (register/heartbeat answers), and
        # whether it may have changed unseen since (a failed heartbeat, a restart): then the
        # next heartbeat may change it back, which the backend audits.
        self.status: str | None = None
        self.status_unsure = True

    def remove_done(self, done: set[int]) -> None:
        """Drop acked (or permanently refused) seqs from the in-memory outbox."""
        p = self.pending
        while p and p[0][0] in done:
            done.discard(p.popleft()[0])
        if done:
            self.pending = deque(item for item in p if item[0] not in done)
