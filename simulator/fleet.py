"""The fleet runner: many edge nodes and dashboards in one asyncio process.

Design for scale (10,000 nodes on two shared cores): nodes are records, not
tasks. One ticker (every ``tick_s``) generates the detections that are due (a
heap of next-generation times), commits them and the acks that arrived since the
last tick in ONE SQLite transaction, and only then hands them to a fixed pool of
worker coroutines that share one ``httpx.AsyncClient``. A node has at most one
detection request in flight; a backlog goes out through the batch endpoint.
Heartbeats and retries are heaps too. Dashboards are one task each (they block
on their socket), writing into the same tick batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import orjson

from simulator._backoff import full_jitter, parse_retry_after
from simulator._http import HttpError, HttpPool, HttpResponse
from simulator._stats import MsHistogram
from simulator._store import KIND_CODES, FleetStore, TickBatch
from simulator.dashboard import DashboardClient, event_times
from simulator.node import NodeState
from simulator.payloads import content_hash, make_detection, node_home, payload_bytes

__all__ = ["DrainResult", "Fleet", "FleetConfig", "FleetCounters", "shard_state_dir"]

log = logging.getLogger("simulator.fleet")

_SEND, _HB, _CMD, _REG = 0, 1, 2, 3


def shard_state_dir(state_dir: Path, shard: int, shards: int) -> Path:
    """Where one shard keeps its state file (the state dir itself when unsharded)."""
    return state_dir if shards <= 1 else state_dir / f"shard-{shard}"


@dataclass
class FleetConfig:
    """Everything a fleet run needs. Tokens default to the SENTINEL_* environment variables."""

    target: str
    state_dir: Path
    nodes: int = 10
    rate: float = 0.1
    dashboards: int = 1
    duration: float | None = 60.0
    enrollment_key: str | None = None
    viewer_token: str | None = None
    heartbeat_s: float = 10.0
    node_prefix: str = "edge"
    shard: int = 0
    shards: int = 1
    seed: int = 0
    batch_max: int = 500
    concurrency: int = 64
    request_timeout_s: float = 5.0
    connect_timeout_s: float = 2.0
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 5.0
    tick_s: float = 0.05
    drain_timeout_s: float = 30.0
    dashboard_since: int | None = None
    stream_target: str | None = None  # dashboards' base URL when it differs from ``target``
    progress: bool = False
    progress_stream: TextIO | None = None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        if self.enrollment_key is None:
            self.enrollment_key = os.environ.get("SENTINEL_ENROLLMENT_KEY")
        if self.viewer_token is None:
            self.viewer_token = os.environ.get("SENTINEL_VIEWER_TOKEN")

    def node_ids(self) -> list[str]:
        """This shard's node ids (node i belongs to shard i % shards)."""
        return [
            f"{self.node_prefix}-{i:05d}"
            for i in range(self.nodes)
            if i % max(1, self.shards) == self.shard
        ]

    def dashboard_names(self) -> list[str]:
        return [
            f"dash-{j:03d}" for j in range(self.dashboards) if j % max(1, self.shards) == self.shard
        ]


@dataclass
class FleetCounters:
    """Running totals (since this process started) the progress line and the harness read."""

    generated: int = 0
    requests: int = 0
    sent_items: int = 0
    acked: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    retries: int = 0
    transport_errors: int = 0
    status_errors: dict[int, int] = field(default_factory=dict)
    retry_after_waits: int = 0
    heartbeats: int = 0
    heartbeat_failures: int = 0
    commands: int = 0
    registrations: int = 0
    received_events: int = 0


@dataclass
class DrainResult:
    outbox_empty: bool
    backlog: int
    dashboards_caught_up: bool
    stream_head: int | None
    seconds: float


class Fleet:
    """Drive a fleet: ``await Fleet(cfg).run()``, or ``start()`` / ``drain()`` / ``close()``.

    Hooks for the chaos harness: ``backlog``, ``counters``, ``stop_event`` (set it,
    or call ``stop()``, to end the production phase), ``pause_production()`` /
    ``resume_production()``, ``drain(timeout)`` and ``snapshot()``.
    """

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.state_dir = shard_state_dir(config.state_dir, config.shard, config.shards)
        self.db_path = self.state_dir / "fleet.db"
        self.stop_event = asyncio.Event()
        self.producing = True
        self.counters = FleetCounters()
        self.nodes: dict[int, NodeState] = {}
        self.dashboards: list[DashboardClient] = []
        self.delivery = MsHistogram()  # whole run
        self.e2e = MsHistogram()
        self.delivery_window = MsHistogram()  # this second (dashboards write here)
        self.e2e_window = MsHistogram()
        self._stream_cache: dict[int, tuple[int | None, int | None]] = {}
        self.lag = MsHistogram(10_000)
        self.lag_window = MsHistogram(10_000)
        self._drain_on_stop = True
        self._batch = TickBatch()
        self._new: list[tuple[NodeState, int, bytes]] = []
        self._backlog = 0
        self._gen_heap: list[tuple[float, int]] = []
        self._hb_heap: list[tuple[float, int]] = []
        self._retry_heap: list[tuple[float, int]] = []
        self._work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()
        # Registrations have workers of their own, so a fleet registering 10,000 nodes
        # against a slow backend does not starve the detections of those already registered.
        self._reg_work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()
        self._reg_workers = max(1, config.concurrency // 4)
        # Heartbeats too (1,000/s at 10,000 nodes): in the detections' queue they would wait
        # ahead of detection sends whenever the backend is slow.
        self._hb_work: asyncio.Queue[tuple[int, NodeState]] = asyncio.Queue()
        self._hb_workers = max(1, config.concurrency // 2)
        self._tasks: list[asyncio.Task[None]] = []
        self._dash_tasks: list[asyncio.Task[None]] = []
        self._store: FleetStore | None = None
        self._client: HttpPool | None = None
        self._names: dict[str, int] = {}
        self._stream_hw = 0
        self._stream_holes: set[int] = set()
        self._rng = random.Random(config.seed)
        self._batch_limit = config.batch_max
        self._started = 0.0
        self._last_second: tuple[float, int] = (0.0, 0)
        self._closed = False
        # SQLite commits run in a thread (sqlite3 releases the GIL while it works), one at
        # a time, so a big commit (30,000 acks after an outage) does not stall the loop.
        self._flush_lock = asyncio.Lock()
        self._flush_fut: asyncio.Future[None] | None = None
        self._next_idx = 1
        self._next_second = 0.0

    # -- hooks -------------------------------------------------------------

    @property
    def batch(self) -> TickBatch:
        """The open tick batch (dashboards write their receipts into it)."""
        return self._batch

    @property
    def backlog(self) -> int:
        """Detections in the outbox (committed, not yet acked)."""
        return self._backlog

    def stop(self, drain: bool = True) -> None:
        """End the production phase; ``run()`` then drains (unless ``drain=False``) and closes."""
        self._drain_on_stop = drain
        self.stop_event.set()

    def pause_production(self) -> None:
        self.producing = False

    def resume_production(self) -> None:
        # Detections that fell due while paused are spread over one interval, not all sent
        # in the first tick (10,000 at once after a long registration would be a burst the
        # backend answers with 429s).
        if not self.producing and self._gen_heap and self.config.rate > 0:
            now = asyncio.get_running_loop().time()
            interval = 1.0 / self.config.rate
            self._gen_heap = [
                (t if t > now else now + self._rng.random() * interval, idx)
                for t, idx in self._gen_heap
            ]
            heapq.heapify(self._gen_heap)
        self.producing = True

    def snapshot(self) -> dict[str, Any]:
        """Counters plus live gauges, JSON-ready."""
        d = asdict(self.counters)
        d["status_errors"] = {str(k): v for k, v in self.counters.status_errors.items()}
        d.update(
            backlog=self._backlog,
            nodes=len(self.nodes),
            registered=sum(1 for n in self.nodes.values() if n.token),
            blackout_nodes=sum(1 for n in self.nodes.values() if n.blackout),
            dashboards=len(self.dashboards),
            dashboards_connected=sum(1 for d in self.dashboards if d.connected.is_set()),
            delivery_p99_ms=self.delivery.percentile(99),
            e2e_p99_ms=self.e2e.percentile(99),
            loop_lag_p99_ms=self.lag.percentile(99),
            loop_lag_max_ms=self.lag.max_seen,
            dashboard_duplicates=sum(d.duplicates for d in self.dashboards),
            dashboard_gaps=sum(d.gaps for d in self.dashboards),
            dashboard_out_of_order=sum(d.out_of_order for d in self.dashboards),
        )
        return d

    # -- lifecycle ---------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        """Start, produce until ``duration`` or ``stop()``, drain, close; returns ``snapshot()``."""
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.config.duration)
            if self._drain_on_stop and self.config.drain_timeout_s > 0:
                res = await self.drain(self.config.drain_timeout_s)
                log.info("drain: %s", res)
        finally:
            await self.close()
        return self.snapshot()

    async def start(self) -> None:
        cfg = self.config
        if not cfg.enrollment_key:
            raise ValueError(
                "no enrollment key: pass --enrollment-key or set SENTINEL_ENROLLMENT_KEY"
            )
        if cfg.dashboards and not cfg.viewer_token:
            raise ValueError("no viewer token: pass --viewer-token or set SENTINEL_VIEWER_TOKEN")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        store = self._store = FleetStore(self.db_path)
        store.set_meta("target", cfg.target)
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._started = now
        ids = cfg.node_ids()
        known = {row[1]: row for row in store.node_rows()}
        store.conn.execute("BEGIN")
        for node_id in ids:
            if node_id not in known:
                store.intern_node(node_id, owned=True)
        store.conn.execute("COMMIT")
        self._names = store.all_node_ids()
        self._next_idx = max(self._names.values(), default=0) + 1
        for idx, node_id, token, next_seq, blackout, queued in store.node_rows():
            n = NodeState(idx, node_id, token, next_seq)
            n.blackout = bool(blackout)
            n.blackout_queued = queued
            self.nodes[idx] = n
        for idx, seq, body in store.outbox_rows():
            node = self.nodes.get(idx)
            if node is not None:
                node.pending.append((seq, body))
                self._backlog += 1
        log.info("state %s: %d nodes, %d in outbox", self.db_path, len(self.nodes), self._backlog)
        self._client = HttpPool(
            cfg.target, size=cfg.concurrency + self._reg_workers + self._hb_workers,
            timeout_s=cfg.request_timeout_s,
            connect_timeout_s=cfg.connect_timeout_s,
        )
        own = [self.nodes[self._names[i]] for i in ids]
        interval = 1.0 / cfg.rate if cfg.rate > 0 else 0.0
        for n in own:
            if interval:
                heapq.heappush(self._gen_heap, (now + self._rng.random() * interval, n.idx))
            heapq.heappush(self._hb_heap, (now + self._rng.random() * cfg.heartbeat_s, n.idx))
            if n.token is None:
                n.registering = True
                self._reg_work.put_nowait((_REG, n))
            else:
                self._maybe_send(n, now)
        await self._start_dashboards()
        self._tasks = [
            asyncio.create_task(self._worker(self._work)) for _ in range(cfg.concurrency)
        ] + [asyncio.create_task(self._worker(self._reg_work)) for _ in range(self._reg_workers)
        ] + [asyncio.create_task(self._worker(self._hb_work)) for _ in range(self._hb_workers)]
        self._tasks.append(asyncio.create_task(self._ticker()))

    async def _start_dashboards(self) -> None:
        cfg = self.config
        store = self._store
        assert store is not None
        names = cfg.dashboard_names()
        if not names:
            return
        rows = [store.dashboard_row(n) for n in names]
        baseline: int | None = cfg.dashboard_since
        if baseline is None and any(r[2] is None for r in rows):
            baseline = await self._stream_head(wait_s=10.0)
            if baseline is None:
                log.warning("GET /health gave no stream head; dashboards replay from seq 0")
                baseline = 0
        self._stream_hw, self._stream_holes = store.stream_state()
        for (idx, _base, last), name in zip(rows, names, strict=True):
            if last is None:
                assert baseline is not None
                store.set_dashboard_baseline(idx, baseline)
                last = baseline
            client = DashboardClient(
                idx, name, cfg.stream_target or cfg.target, str(cfg.viewer_token), self, int(last),
                counters=store.dashboard_counters(idx), delivery=self.delivery_window,
                e2e=self.e2e_window,
                backoff_base_s=cfg.backoff_base_s, backoff_cap_s=cfg.backoff_cap_s,
            )
            self.dashboards.append(client)
        if self.dashboards and self._stream_hw == 0:
            self._stream_hw = min(d.last_seq for d in self.dashboards)
        self._dash_tasks = [
            asyncio.create_task(d.run(self.stop_event)) for d in self.dashboards
        ]

    async def drain(self, timeout: float) -> DrainResult:
        """Stop producing; send until the outbox is empty, then let dashboards reach the head."""
        self.producing = False
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deadline = t0 + timeout
        while self._backlog > 0 and loop.time() < deadline:
            await asyncio.sleep(0.05)
        empty = self._backlog == 0
        head: int | None = None
        caught = not self.dashboards
        if self.dashboards and empty:
            stable = 0
            while loop.time() < deadline:
                h = await self._stream_head(wait_s=min(2.0, max(0.1, deadline - loop.time())))
                if h is not None and min(d.last_seq for d in self.dashboards) >= h:
                    stable = stable + 1 if h == head else 0
                    head = h
                    if stable >= 2:
                        caught = True
                        break
                else:
                    head = h if h is not None else head
                await asyncio.sleep(0.2)
        await self._flush_async()
        return DrainResult(empty, self._backlog, caught, head, loop.time() - t0)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop_event.set()
        for d in self.dashboards:
            await d.close()
        for t in self._tasks + self._dash_tasks:
            t.cancel()
        for t in self._tasks + self._dash_tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._flush_fut is not None:
            with contextlib.suppress(Exception):
                await self._flush_fut  # a commit still running in its thread
        if self._store is not None:
            self._second(asyncio.get_running_loop().time(), final=True)
            self._flush()
        if self._client is not None:
            await self._client.aclose()
        if self._store is not None:
            self._store.close()

    # -- the ticker --------------------------------------------------------

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self.config.tick_s
        next_t = loop.time()
        self._next_second = next_t + 1.0
        while True:
            next_t += tick
            delay = next_t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now = loop.time()
            lag_ms = max(0.0, (now - next_t) * 1000.0)
            self.lag.add(lag_ms)
            self.lag_window.add(lag_ms)
            if now - next_t > 1.0:
                next_t = now  # far behind: do not try to catch up tick by tick
            try:
                await self._tick(now)
            except Exception:
                log.exception("tick failed")

    async def _tick(self, now: float) -> None:
        if self.producing and self._gen_heap:
            self._generate(now)
        new, self._new = self._new, []
        await self._flush_async()  # store first: nothing leaves before it is durable
        now = asyncio.get_running_loop().time()
        for node, seq, body in new:
            node.pending.append((seq, body))
            self._backlog += 1
            self._maybe_send(node, now)
        rh = self._retry_heap
        while rh and rh[0][0] <= now:
            _, idx = heapq.heappop(rh)
            node = self.nodes[idx]
            if node.token is None:
                if not node.registering:
                    node.registering = True
                    self._reg_work.put_nowait((_REG, node))
            else:
                self._maybe_send(node, now)
        hb = self._hb_heap
        every = self.config.heartbeat_s
        while hb and hb[0][0] <= now:
            t, idx = heapq.heappop(hb)
            heapq.heappush(hb, (max(t + every, now), idx))
            node = self.nodes[idx]
            if node.token is not None and not node.hb_inflight:
                node.hb_inflight = True
                self._hb_work.put_nowait((_HB, node))
        for d in self.dashboards:
            d.check_alive(time.monotonic())
        if now >= self._next_second:
            self._next_second += 1.0
            if now > self._next_second:
                self._next_second = now + 1.0
            self._second(now)

    def _generate(self, now: float) -> None:
        cfg = self.config
        interval = 1.0 / cfg.rate
        wall = time.time()
        cap_us = int(wall * 1_000_000)
        b = self._batch
        heap = self._gen_heap
        while heap and heap[0][0] <= now:
            t, idx = heapq.heappop(heap)
            node = self.nodes[idx]
            seq = node.next_seq
            node.next_seq = seq + 1
            payload = make_detection(node.node_id, seq, wall, cfg.seed)
            body = payload_bytes(payload)
            b.outbox.append((idx, seq, body))
            b.generated.append((idx, seq, cap_us, content_hash(payload)))
            if node.blackout:
                node.blackout_queued += 1
            b.nodes[idx] = (node.next_seq, int(node.blackout), node.blackout_queued)
            self._new.append((node, seq, body))
            self.counters.generated += 1
            t += interval
            if t < now - 2.0:
                t = now + self._rng.random() * interval
            heapq.heappush(heap, (t, idx))

    def _flush(self) -> None:
        """Commit the open batch here and now (only when no thread commit can be running)."""
        if self._store is None:
            return
        b, self._batch = self._batch, TickBatch()
        self._store.flush(b)

    async def _flush_async(self) -> None:
        """Commit the open batch in a worker thread; commits never overlap."""
        store = self._store
        if store is None:
            return
        async with self._flush_lock:
            b, self._batch = self._batch, TickBatch()
            if b.empty():
                return
            fut = asyncio.get_running_loop().run_in_executor(None, store.flush, b)
            self._flush_fut = fut
            await asyncio.shield(fut)

    def _second(self, now: float, final: bool = False) -> None:
        c = self.counters
        wall_us = time.time_ns() // 1000
        received = sum(d.received for d in self.dashboards)
        c.received_events = received
        prev_t, prev_acked = self._last_second
        thr = (c.acked - prev_acked) / (now - prev_t) if prev_t and now > prev_t else 0.0
        self._last_second = (now, c.acked)
        p99 = self.delivery_window.percentile(99)
        lag99 = self.lag_window.percentile(99) or 0.0
        self._batch.series.append(
            (wall_us, c.generated, c.sent_items, c.acked, self._backlog, c.retries, received,
             thr, p99, lag99)
        )
        if self.config.progress and not final:
            out = self.config.progress_stream or sys.stderr
            tag = f"[shard {self.config.shard}] " if self.config.shards > 1 else ""
            reg = (
                sum(1 for n in self.nodes.values() if n.token)
                if now - self._started < 60 else None
            )
            out.write(
                f"{tag}t={now - self._started:6.1f}s gen={c.generated} sent={c.sent_items} "
                f"acked={c.acked} backlog={self._backlog} retries={c.retries} "
                f"recv={received} p99={'-' if p99 is None else f'{p99:.0f}ms'} "
                f"lag={lag99:.0f}ms"
                + (f" registered={reg}/{len(self.nodes)}" if reg is not None else "")
                + "\n"
            )
            out.flush()
        self.delivery.merge(self.delivery_window)
        self.e2e.merge(self.e2e_window)
        self.delivery_window.reset()
        self.e2e_window.reset()
        self.lag_window.reset()
        cache = self._stream_cache
        if len(cache) > 50_000 and self.dashboards:
            floor = min(d.last_seq for d in self.dashboards)
            self._stream_cache = {k: v for k, v in cache.items() if k > floor}

    # -- stream recording (DashboardSink) ------------------------------------

    @property
    def stream_cache(self) -> dict[int, tuple[int | None, int | None]]:
        return self._stream_cache

    def stream_info(self, seq: int, event: dict[str, Any]) -> tuple[int | None, int | None]:
        committed_us, captured_us, node_id, node_seq = event_times(event)
        info = (committed_us, captured_us)
        self._stream_cache[seq] = info
        hw = self._stream_hw
        if seq > hw:
            if seq > hw + 1:
                self._stream_holes.update(range(hw + 1, seq))
            self._stream_hw = seq
        elif seq in self._stream_holes:
            self._stream_holes.discard(seq)
        else:
            return info  # recorded before (e.g. before a restart of this process)
        nidx: int | None = None
        if node_id is not None:
            nidx = self._names.get(node_id)
            if nidx is None:  # another fleet's node: numbered here, stored with this batch
                nidx = self._names[node_id] = self._next_idx
                self._next_idx += 1
                self._batch.new_nodes.append((nidx, node_id))
        kind = KIND_CODES.get(str(event.get("type")), 0)
        self._batch.stream.append((seq, kind, nidx, node_seq, committed_us, captured_us))
        return info

    # -- node work ---------------------------------------------------------

    def _maybe_send(self, node: NodeState, now: float) -> None:
        if (
            node.queued or node.inflight or node.blackout or not node.pending
            or node.token is None or node.retry_at > now
        ):
            return
        node.queued = True
        self._work.put_nowait((_SEND, node))

    def _fail(self, node: NodeState, status: int, retry_after: float | None) -> None:
        now = asyncio.get_running_loop().time()
        node.attempt += 1
        self.counters.retries += 1
        if retry_after is not None:
            delay = retry_after + self._rng.random() * min(0.25, 0.1 * retry_after)
            node.retry_reason_at = now
            node.last_retry_after = retry_after
            node.last_status = status
        else:
            delay = full_jitter(node.attempt, self.config.backoff_base_s, self.config.backoff_cap_s)
        node.retry_at = now + delay
        heapq.heappush(self._retry_heap, (node.retry_at, node.idx))

    def _headers(self, node: NodeState) -> dict[str, str]:
        return {"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"}

    async def _worker(self, queue: asyncio.Queue[tuple[int, NodeState]]) -> None:
        while True:
            kind, node = await queue.get()
            try:
                if kind == _SEND:
                    node.queued = False
                    await self._send(node)
                elif kind == _HB:
                    try:
                        await self._heartbeat(node)
                    finally:
                        node.hb_inflight = False
                elif kind == _CMD:
                    await self._poll_commands(node)
                else:
                    try:
                        await self._register(node)
                    finally:
                        node.registering = False
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: work %d failed", node.node_id, kind)

    async def _register(self, node: NodeState) -> None:
        assert self._client is not None and self._store is not None
        lat, lon = node_home(node.node_id, self.config.seed)
        body = {"node_id": node.node_id, "name": node.node_id, "location": {
            "latitude": lat, "longitude": lon}}
        try:
            resp = await self._client.request(
                "POST", "/api/nodes/register", body=orjson.dumps(body),
                headers={"Authorization": f"Bearer {self.config.enrollment_key}",
                         "Content-Type": "application/json"},
            )
        except HttpError:
            self.counters.transport_errors += 1
            self._fail(node, 0, None)
            return
        if resp.status in (200, 201):
            token = str(resp.json()["token"])
            node.token = token
            self._batch.tokens[node.idx] = token  # durable with the next tick
            self.counters.registrations += 1
            node.attempt = 0
            node.retry_at = 0.0
            self._maybe_send(node, asyncio.get_running_loop().time())
            return
        self._count_status(resp.status)
        if resp.status in (401, 403):
            log.error("register %s: %d %s (check SENTINEL_ENROLLMENT_KEY / --enrollment-key)",
                      node.node_id, resp.status, resp.text[:200])
        ra = parse_retry_after(resp.headers.get("retry-after")) if resp.status in (
            429, 503) else None
        self._fail(node, resp.status, ra)

    def _count_status(self, status: int) -> None:
        e = self.counters.status_errors
        e[status] = e.get(status, 0) + 1

    async def _send(self, node: NodeState) -> None:
        if node.blackout or not node.pending or node.token is None or node.inflight:
            return
        assert self._client is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if node.retry_at > now:
            return
        items = list(islice(node.pending, self._batch_limit))
        if node.retry_reason_at:
            self._batch.retry_waits.append(
                (node.idx, node.last_status, node.last_retry_after, now - node.retry_reason_at,
                 time.time_ns() // 1000)
            )
            self.counters.retry_after_waits += 1
            node.retry_reason_at = 0.0
        node.inflight = True
        try:
            try:
                if len(items) == 1:
                    resp = await self._client.request(
                        "POST", "/api/detections", body=items[0][1],
                        headers=self._headers(node),
                    )
                else:
                    body = b'{"items":[' + b",".join(it[1] for it in items) + b"]}"
                    resp = await self._client.request(
                        "POST", "/api/detections/batch", body=body,
                        headers=self._headers(node),
                    )
            except HttpError:
                self.counters.transport_errors += 1
                self._fail(node, 0, None)
                return
            self.counters.requests += 1
            self.counters.sent_items += len(items)
            try:
                self._on_send_response(node, items, resp)
            except (ValueError, KeyError, TypeError) as exc:  # an answer we cannot read
                log.error("node %s: unreadable answer %d: %s", node.node_id, resp.status, exc)
                self._count_status(resp.status)
                self._fail(node, resp.status, None)
        finally:
            node.inflight = False
        self._maybe_send(node, loop.time())

    def _on_send_response(
        self, node: NodeState, items: list[tuple[int, bytes]], resp: HttpResponse
    ) -> None:
        status = resp.status
        us = time.time_ns() // 1000
        b = self._batch
        c = self.counters
        outcomes: list[tuple[int, int, str | None]] = []
        if status in (200, 201) and len(items) == 1:
            outcomes.append((items[0][0], status, None))
        elif status == 200:
            data = resp.json()
            for r in data.get("results", []):
                # `index` is the item's position in the request; it is there even when the
                # item was too malformed to have a seq.
                i = r.get("index")
                seq = items[i][0] if isinstance(i, int) and 0 <= i < len(items) else r.get("seq")
                if isinstance(seq, int):
                    outcomes.append((seq, int(r["status"]), r.get("detail")))
        elif status in (409, 422, 400) and len(items) == 1:
            outcomes.append((items[0][0], status, resp.text[:500]))
        elif status == 401:
            self._count_status(status)
            log.warning("node %s: token refused (401), registering again", node.node_id)
            node.token = None
            node.registering = True
            self._reg_work.put_nowait((_REG, node))
            return
        elif status == 413 and len(items) > 1:
            self._batch_limit = max(1, len(items) // 2)
            self._fail(node, status, 0.0)
            return
        else:
            self._count_status(status)
            ra = parse_retry_after(resp.headers.get("retry-after")) if status in (
                429, 503) else None
            self._fail(node, status, ra)
            return
        done: set[int] = set()
        for seq, st, detail in outcomes:
            if st in (200, 201):
                c.acked += 1
                if st == 200:
                    c.duplicates += 1
            elif st == 409:
                c.conflicts += 1
                b.conflicts.append((node.idx, seq, st, detail, us))
                log.error("node %s seq %d: 409 conflict (a bug): %s", node.node_id, seq, detail)
            elif st in (400, 413, 422):
                c.rejected += 1
                b.conflicts.append((node.idx, seq, st, detail, us))
                log.error("node %s seq %d: rejected %d: %s", node.node_id, seq, st, detail)
            else:
                continue  # e.g. a 5xx for one item: stays in the outbox
            b.acks.append((node.idx, seq, us, st))
            done.add(seq)
        n_done = len(done)
        node.remove_done(done)
        self._backlog -= n_done
        node.attempt = 0
        if n_done < len(items):
            self._fail(node, status, None)

    async def _heartbeat(self, node: NodeState) -> None:
        assert self._client is not None
        body = orjson.dumps(
            {"status": "covert" if node.blackout else "online", "outbox_depth": len(node.pending)}
        )
        try:
            resp = await self._client.request(
                "POST", f"/api/nodes/{node.node_id}/heartbeat", body=body,
                headers=self._headers(node),
            )
        except HttpError:
            self.counters.heartbeat_failures += 1
            return
        if resp.status != 200:
            self.counters.heartbeat_failures += 1
            if resp.status == 401 and not node.registering:
                node.token = None
                node.registering = True
                self._reg_work.put_nowait((_REG, node))
            return
        self.counters.heartbeats += 1
        data = resp.json()
        if data.get("pending_commands"):
            self._work.put_nowait((_CMD, node))

    async def poll_commands(self, node_id: str) -> None:
        """Poll one node's commands now (the harness may call it instead of waiting a heartbeat)."""
        idx = self._names.get(node_id)
        if idx is not None and idx in self.nodes:
            await self._poll_commands(self.nodes[idx])

    async def _poll_commands(self, node: NodeState) -> None:
        assert self._client is not None
        if node.token is None:
            return
        try:
            resp = await self._client.request(
                "GET", f"/api/nodes/{node.node_id}/commands", headers=self._headers(node),
            )
        except HttpError:
            self.counters.transport_errors += 1
            return
        if resp.status != 200:
            self._count_status(resp.status)
            return
        acks: list[tuple[str, dict[str, Any]]] = []
        us = time.time_ns() // 1000
        b = self._batch
        for cmd in resp.json().get("commands", []):
            cid, ctype = str(cmd["id"]), str(cmd["type"])
            self.counters.commands += 1
            result: dict[str, Any]
            if ctype == "blackout_on":
                if not node.blackout:
                    node.blackout = True
                    node.blackout_queued = 0
                    b.blackout_on.append((node.idx, us))
                result = {"ok": True}
            elif ctype == "blackout_off":
                if node.blackout:
                    node.blackout = False
                    b.blackout_off.append((us, node.blackout_queued, node.idx))
                result = {"ok": True, "result": {"queued": node.blackout_queued}}
            else:
                result = {"ok": False, "result": {"error": f"unsupported command type {ctype}"}}
            b.nodes[node.idx] = (node.next_seq, int(node.blackout), node.blackout_queued)
            b.commands.append((cid, node.idx, ctype, us, orjson.dumps(result).decode()))
            acks.append((cid, result))
        await self._flush_async()  # blackout state durable before the backend hears the ack
        if not node.blackout:
            self._maybe_send(node, asyncio.get_running_loop().time())
        for cid, result in acks:
            try:
                r = await self._client.request(
                    "POST", f"/api/nodes/{node.node_id}/commands/{cid}/ack",
                    body=orjson.dumps(result), headers=self._headers(node),
                )
                if r.status != 200:
                    self._count_status(r.status)
            except HttpError:
                self.counters.transport_errors += 1  # the backend delivers it again

    async def _stream_head(self, wait_s: float) -> int | None:
        """``stream_head`` from GET /health, retried for up to ``wait_s`` seconds."""
        assert self._client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:
            try:
                r = await self._client.request("GET", "/health", timeout_s=2.0)
                if r.status == 200:
                    head = r.json().get("stream_head")
                    if isinstance(head, int):
                        return head
            except (HttpError, ValueError):
                pass
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.2)
