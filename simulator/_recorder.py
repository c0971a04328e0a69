"""What one tick writes (outbox, ledger, node state) and its commit, on top of ``FleetStore``.

Store first, send second: a detection generated in a tick goes to the node's
in-memory outbox (from where it is sent) only once the tick's transaction that
holds it has committed, so nothing the backend may have seen is missing from the
state file after a kill -9. Commits run in a worker thread (sqlite3 releases the
GIL while it works), one at a time, so a big commit (30,000 acks after an outage)
does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from simulator._store import FleetStore, TickBatch
from simulator.node import NodeState
from simulator.payloads import make_detection, payload_bytes
from simulator.protocol import content_hash

__all__ = ["TickRecorder"]


class TickRecorder:
    """The open tick batch, the outbox depth, and the commits of the state file.

    ``batch`` is swapped for a fresh one at every commit: take it again for each
    write rather than keeping a reference across an ``await``.
    """

    def __init__(self, seed: int) -> None:
        self.batch = TickBatch()
        self.backlog = 0  # detections in the outbox: committed, not yet acked
        # Generated detections whose commit is still running: not in ``backlog`` yet, but
        # they will be, so a drain must wait for them too.
        self.in_commit = 0
        self._seed = seed
        self._store: FleetStore | None = None
        self._new: list[tuple[NodeState, int, bytes]] = []  # generated, not yet committed
        # node idx -> how wrong its clock is (s; + ahead): shifts the captured_at it writes
        self.clock_skew_s: dict[int, float] = {}
        self._flush_lock = asyncio.Lock()
        self._flush_fut: asyncio.Future[None] | None = None

    # -- the state file ------------------------------------------------------

    def load(
        self, store: FleetStore, node_ids: list[str], nodes: dict[int, NodeState]
    ) -> dict[str, int]:
        """Open ``store``, make sure ``node_ids`` are in it as this fleet's own nodes, and
        fill ``nodes`` (and their outboxes) from it; returns every known node id's index."""
        self._store = store
        known = {row[1] for row in store.node_rows()}
        store.conn.execute("BEGIN")
        for node_id in node_ids:
            if node_id not in known:
                store.intern_node(node_id, owned=True)
        store.conn.execute("COMMIT")
        for idx, node_id, token, next_seq, blackout, queued in store.node_rows():
            n = NodeState(idx, node_id, token, next_seq)
            n.blackout = bool(blackout)
            n.blackout_queued = queued
            nodes[idx] = n
        for idx, seq, body in store.outbox_rows():
            node = nodes.get(idx)
            if node is not None:
                node.pending.append((seq, body))
                self.backlog += 1
        return store.all_node_ids()

    def flush(self) -> None:
        """Commit the open batch here and now (only when no thread commit can be running)."""
        if self._store is None:
            return
        b, self.batch = self.batch, TickBatch()
        self._store.flush(b)

    async def flush_async(self) -> None:
        """Commit the open batch in a worker thread; commits never overlap."""
        store = self._store
        if store is None:
            return
        async with self._flush_lock:
            b, self.batch = self.batch, TickBatch()
            if b.empty():
                return
            fut = asyncio.get_running_loop().run_in_executor(None, store.flush, b)
            self._flush_fut = fut
            await asyncio.shield(fut)

    async def settle(self) -> None:
        """Wait for a commit still running in its thread (errors were the tick's to report)."""
        if self._flush_fut is not None:
            with contextlib.suppress(Exception):
                await self._flush_fut

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    @property
    def is_open(self) -> bool:
        return self._store is not None

    # -- generation ----------------------------------------------------------

    def generate(self, due: Iterable[NodeState], wall: float) -> int:
        """One new detection for each node in ``due``, into the batch (outbox, ledger, seq
        counter); returns how many. They reach the nodes' outboxes with ``commit()``.

        ``wall`` is the true time; a node with a ``clock_skew_s`` writes its own wrong time
        as ``captured_at``, and the ledger keeps the difference (``clock_skew`` table)."""
        true_us = int(wall * 1_000_000)
        seed = self._seed
        b = self.batch
        new = self._new
        skews = self.clock_skew_s
        count = 0
        for node in due:
            idx = node.idx
            seq = node.next_seq
            node.next_seq = seq + 1
            skew = skews.get(idx, 0.0) if skews else 0.0
            captured = wall + skew  # the node's own (maybe wrong) clock
            cap_us = int(captured * 1_000_000) if skew else true_us
            payload = make_detection(node.node_id, seq, captured, seed)
            body = payload_bytes(payload)
            b.outbox.append((idx, seq, body))
            b.generated.append((idx, seq, cap_us, content_hash(payload)))
            if skew:
                b.clock_skews.append((idx, seq, cap_us - true_us))
            if node.blackout:
                node.blackout_queued += 1
            b.nodes[idx] = (node.next_seq, int(node.blackout), node.blackout_queued)
            new.append((node, seq, body))
            count += 1
        return count

    async def commit(self) -> list[NodeState]:
        """Commit the open batch, then put the detections it generated into their nodes'
        outboxes; returns those nodes (they have something new to send)."""
        new, self._new = self._new, []
        self.in_commit += len(new)
        try:
            await self.flush_async()
        finally:
            self.in_commit -= len(new)
        for node, seq, body in new:
            node.pending.append((seq, body))
        self.backlog += len(new)
        return [item[0] for item in new]

    # -- the conversation's writes ------------------------------------------

    def record_token(self, node: NodeState, token: str) -> None:
        self.batch.tokens[node.idx] = token

    def record_retry_wait(self, node: NodeState, waited_s: float, at_us: int) -> None:
        """How long a node waited on a 429/503's Retry-After before it sent again."""
        self.batch.retry_waits.append(
            (node.idx, node.last_status, node.last_retry_after, waited_s, at_us)
        )

    def record_ack(self, node: NodeState, seq: int, at_us: int, status: int) -> None:
        """The backend took (or for good refused) a detection: it leaves the outbox."""
        self.batch.acks.append((node.idx, seq, at_us, status))

    def record_refused(
        self, node: NodeState, seq: int, status: int, detail: str | None, at_us: int
    ) -> None:
        """A 409 or a rejection: the ledger keeps it for the verdict (it is a bug either way)."""
        self.batch.conflicts.append((node.idx, seq, status, detail, at_us))

    def forget_done(self, node: NodeState, done: set[int]) -> None:
        """Drop acked seqs from the node's in-memory outbox (their rows go with the batch)."""
        n = len(done)
        node.remove_done(done)
        self.backlog -= n

    def record_attempts(
        self, node: NodeState, seqs: Iterable[int], at_us: int, outcome: str, batch: bool,
        duplicates: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        """One send of each of ``seqs`` and how it ended (``attempt`` table): the HTTP
        status as text or the transport failure; ``duplicates``: the answer said so."""
        idx, b = node.idx, int(batch)
        self.batch.attempts.extend(
            (idx, seq, at_us, outcome, b, int(seq in duplicates)) for seq in seqs
        )

    def record_item_attempts(
        self, node: NodeState, items: Iterable[tuple[int, str, bool]], at_us: int, batch: bool
    ) -> None:
        """Sends whose items ended differently (a batch): (seq, outcome, duplicate) each."""
        idx, b = node.idx, int(batch)
        self.batch.attempts.extend(
            (idx, seq, at_us, outcome, b, int(dup)) for seq, outcome, dup in items
        )

    def record_change(
        self, kind: str, actor: str, target: str, requested_us: int, answered_us: int,
        outcome: int,
    ) -> None:
        """A state change this fleet asked for (``change`` table), for the audit checks."""
        self.batch.changes.append((kind, actor, target, requested_us, answered_us, outcome))

    def record_command_ack(
        self, node: NodeState, command_id: str, ctype: str, blackout_id: int | None,
        queued: int | None, requested_us: int, answered_us: int, status: int,
    ) -> None:
        """One ack of a command sent to the backend and its answer (0: no answer)."""
        self.batch.command_acks.append(
            (command_id, node.idx, ctype, blackout_id, queued, requested_us, answered_us, status)
        )

    def record_node(self, node: NodeState) -> None:
        self.batch.nodes[node.idx] = (node.next_seq, int(node.blackout), node.blackout_queued)

    def record_command(
        self, node: NodeState, command_id: str, ctype: str, at_us: int, result: str
    ) -> None:
        self.batch.commands.append((command_id, node.idx, ctype, at_us, result))

    def record_blackout_on(self, node: NodeState, at_us: int) -> None:
        self.batch.blackout_on.append((node.idx, at_us))

    def record_blackout_off(self, node: NodeState, at_us: int) -> None:
        self.batch.blackout_off.append((at_us, node.blackout_queued, node.idx))

    def record_series(
        self, row: tuple[int, int, int, int, int, int, int, float, float | None, float]
    ) -> None:
        """One second of the fleet's figures (``series`` table)."""
        self.batch.series.append(row)
