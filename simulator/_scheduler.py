"""When each node does what: the ticker, the heaps of due work and the queues of ready work.

Nodes are records, not tasks: instead of one coroutine per node, three heaps say
when each node next generates, heartbeats or may retry, and a fixed pool of worker
coroutines takes ready work from three queues. Registrations and heartbeats have
queues (and workers) of their own: against a slow backend, 10,000 registrations or
1,000 heartbeats a second would otherwise wait ahead of the detections of nodes
that are already registered.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from simulator._stats import MsHistogram
from simulator.node import NodeState

__all__ = ["NodeWork", "Scheduler"]

log = logging.getLogger("simulator.fleet")

# Kinds of work in the queues.
_SEND, _HEARTBEAT, _COMMANDS, _REGISTER = 0, 1, 2, 3


class NodeWork(Protocol):
    """What a worker does with a node: its conversation with the backend."""

    async def send(self, node: NodeState) -> None: ...

    async def heartbeat(self, node: NodeState) -> None: ...

    async def poll_commands(self, node: NodeState) -> None: ...

    async def register(self, node: NodeState) -> None: ...


class Scheduler:
    """The heaps of due work (generation, heartbeats, retries), the work queues and the ticker.

    A node has at most one detection request queued or in flight (``queued`` /
    ``inflight``), at most one heartbeat and at most one registration; the flags
    are set when work is queued and cleared by the worker that did it.
    """

    def __init__(
        self,
        nodes: dict[int, NodeState],
        rng: random.Random,
        *,
        rate: float,
        heartbeat_s: float,
        lag: MsHistogram,
        lag_window: MsHistogram,
    ) -> None:
        self._nodes = nodes
        self._rng = rng
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._heartbeat_s = heartbeat_s
        self._lag = lag
        self._lag_window = lag_window
        self._gen_heap: list[tuple[float, int]] = []
        self._hb_heap: list[tuple[float, int]] = []
        self._retry_heap: list[tuple[float, int]] = []
        self._work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()
        self._reg_work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()
        self._hb_work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()

    # -- planning ------------------------------------------------------------

    def plan(self, node: NodeState, now: float) -> None:
        """First generation and heartbeat of a node, each at a random point of its interval
        (so a fleet started at once does not tick in step)."""
        if self._interval:
            heapq.heappush(self._gen_heap, (now + self._rng.random() * self._interval, node.idx))
        heapq.heappush(self._hb_heap, (now + self._rng.random() * self._heartbeat_s, node.idx))

    def respread_generation(self, now: float) -> None:
        """Spread generations that fell due (while production was paused) over one interval.

        Sending them all in the first tick (10,000 at once after a long registration)
        would be a burst the backend answers with 429s.
        """
        interval = self._interval
        if not self._gen_heap or not interval:
            return
        rng = self._rng
        self._gen_heap = [
            (t if t > now else now + rng.random() * interval, idx) for t, idx in self._gen_heap
        ]
        heapq.heapify(self._gen_heap)

    def due_generation(self, now: float) -> Iterator[NodeState]:
        """The nodes due to generate a detection now; each is rescheduled one interval on
        (or, when more than two seconds behind, at a random point of the next interval)."""
        heap = self._gen_heap
        nodes = self._nodes
        interval = self._interval
        while heap and heap[0][0] <= now:
            t, idx = heapq.heappop(heap)
            t += interval
            if t < now - 2.0:
                t = now + self._rng.random() * interval
            heapq.heappush(heap, (t, idx))
            yield nodes[idx]

    # -- queueing ------------------------------------------------------------

    def queue_send(self, node: NodeState, now: float) -> None:
        """Queue a send when the node has something to send and may send it now."""
        if (
            node.queued or node.inflight or node.blackout or not node.pending
            or node.token is None or node.retry_at > now
        ):
            return
        node.queued = True
        self._work.put_nowait((_SEND, node))

    def queue_register(self, node: NodeState) -> None:
        """Queue a registration unless one is already queued or running."""
        if node.registering:
            return
        node.registering = True
        self._reg_work.put_nowait((_REGISTER, node))

    def queue_commands(self, node: NodeState) -> None:
        """Queue a poll of the node's commands (the backend said some are pending)."""
        self._work.put_nowait((_COMMANDS, node))

    def retry_later(self, node: NodeState) -> None:
        """Look at the node again at ``node.retry_at``."""
        heapq.heappush(self._retry_heap, (node.retry_at, node.idx))

    def release_due(self, now: float) -> None:
        """Queue the retries and heartbeats that are due."""
        nodes = self._nodes
        rh = self._retry_heap
        while rh and rh[0][0] <= now:
            _, idx = heapq.heappop(rh)
            node = nodes[idx]
            if node.token is None:
                self.queue_register(node)
            else:
                self.queue_send(node, now)
        hb = self._hb_heap
        every = self._heartbeat_s
        while hb and hb[0][0] <= now:
            t, idx = heapq.heappop(hb)
            heapq.heappush(hb, (max(t + every, now), idx))
            node = nodes[idx]
            if node.token is not None and not node.hb_inflight:
                node.hb_inflight = True
                self._hb_work.put_nowait((_HEARTBEAT, node))

    # -- running -------------------------------------------------------------

    def start_workers(
        self, work: NodeWork, *, senders: int, registrars: int, heartbeaters: int
    ) -> list[asyncio.Task[None]]:
        """The worker pool: ``senders`` for detections and commands, the others for
        registrations and heartbeats. Cancel the tasks to stop them."""
        return (
            [asyncio.create_task(self._worker(self._work, work)) for _ in range(senders)]
            + [asyncio.create_task(self._worker(self._reg_work, work)) for _ in range(registrars)]
            + [asyncio.create_task(self._worker(self._hb_work, work)) for _ in range(heartbeaters)]
        )

    async def _worker(self, queue: asyncio.Queue[tuple[int, NodeState]], work: NodeWork) -> None:
        while True:  # until cancelled
            kind, node = await queue.get()
            try:
                if kind == _SEND:
                    node.queued = False
                    await work.send(node)
                elif kind == _HEARTBEAT:
                    try:
                        await work.heartbeat(node)
                    finally:
                        node.hb_inflight = False
                elif kind == _COMMANDS:
                    await work.poll_commands(node)
                else:
                    try:
                        await work.register(node)
                    finally:
                        node.registering = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: work %d failed", node.node_id, kind)

    async def run_ticker(
        self, tick_s: float, on_tick: Callable[[float], Awaitable[None]]
    ) -> None:
        """Call ``on_tick(now)`` every ``tick_s`` until cancelled, recording the loop's lag.

        Far behind (over a second), it does not try to catch up tick by tick.
        """
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:  # until cancelled
            next_t += tick_s
            delay = next_t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            lag_ms = max(0.0, (now - next_t) * 1000.0)
            self._lag.add(lag_ms)
            self._lag_window.add(lag_ms)
            if now - next_t > 1.0:
                next_t = now
            try:
                await on_tick(now)
            except Exception:
                log.exception("tick failed")
