"""The fleet runner: many edge nodes and dashboards in one asyncio process.

Built for scale (10,000 nodes on two shared cores): nodes are records, not tasks
(docs/architecture.md). ``Fleet`` only wires the parts together:

- ``_scheduler.Scheduler``: the ticker (every ``tick_s``), the heaps of due work
  (generation, heartbeats, retries) and the queues a fixed pool of workers takes from;
- ``_recorder.TickRecorder``: what one tick writes (new detections, acks, tokens,
  commands, dashboards' receipts), committed in ONE SQLite transaction before any
  of it is sent;
- ``_conversation.Conversation``: each node's requests to the backend over one
  keep-alive pool (``_http.HttpPool``), and the retry policy;
- ``_stream_sink.StreamSink``: where the dashboards (one task each) record the stream;
- ``_progress.ProgressReporter``: the per-second series row and progress line;
- ``_clock_sampler.ClockSampler``: the round trips that carried the server's time
  (heartbeat answers, dashboards' hello), for ``clock_offset()``; the best of them are
  written to the ledger at close.

TLS: one client context, built once in ``start()`` from ``FleetConfig.tls``
(``simulator.tls.client_context``), serves the HTTP pool and every dashboard.

A node has at most one detection request in flight; a backlog goes out through the
batch endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import ssl
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from simulator._clock_sampler import ClockSampler
from simulator._conversation import Conversation, RetryPolicy
from simulator._counters import FleetCounters
from simulator._http import HttpPool
from simulator._progress import ProgressReporter
from simulator._recorder import TickRecorder
from simulator._scheduler import Scheduler
from simulator._stats import LatencyMeters
from simulator._store import FleetStore, TickBatch
from simulator._stream_sink import StreamSink
from simulator.clock_offset import OffsetEstimate
from simulator.dashboard import DashboardClient
from simulator.node import NodeState
from simulator.tls import TlsOptions, client_context, is_tls_url

__all__ = ["DrainResult", "Fleet", "FleetConfig", "FleetCounters", "shard_state_dir"]

log = logging.getLogger("simulator.fleet")


def shard_state_dir(state_dir: Path, shard: int, shards: int) -> Path:
    """Where one shard keeps its state file (the state dir itself when unsharded)."""
    return state_dir if shards <= 1 else state_dir / f"shard-{shard}"


@dataclass
class FleetConfig:
    """Everything a fleet run needs. Tokens default to the SENTINEL_* environment variables.
    ``tls``: how ``https://``/``wss://`` targets are verified (ignored for plain ones)."""

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
    tls: TlsOptions = field(default_factory=TlsOptions)

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
    ``resume_production()``, ``set_clock_skew()`` / ``clear_clock_skew()``,
    ``drain(timeout)`` and ``snapshot()``.
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
        meters = self._meters = LatencyMeters()
        self.delivery = meters.delivery  # whole run
        self.e2e = meters.e2e
        self.delivery_window = meters.delivery_window  # this second (dashboards write here)
        self.e2e_window = meters.e2e_window
        self.lag = meters.lag
        self.lag_window = meters.lag_window
        self._rng = random.Random(config.seed)
        self._recorder = TickRecorder(config.seed)
        self._sink = StreamSink(self._recorder)
        self._scheduler = Scheduler(
            self.nodes, self._rng, rate=config.rate, heartbeat_s=config.heartbeat_s,
            lag=meters.lag, lag_window=meters.lag_window,
        )
        self._progress = ProgressReporter(
            counters=self.counters, meters=meters, recorder=self._recorder,
            dashboards=self.dashboards, nodes=self.nodes, show=config.progress,
            stream=config.progress_stream,
            tag=f"[shard {config.shard}] " if config.shards > 1 else "",
        )
        # Registrations and heartbeats have workers of their own (see _scheduler).
        self._reg_workers = max(1, config.concurrency // 4)
        self._hb_workers = max(1, config.concurrency // 2)
        self._http: HttpPool | None = None
        self.clock = ClockSampler()
        #: The one TLS client context of this fleet (None until started, or plain http).
        self.ssl_context: ssl.SSLContext | None = None
        self._store: FleetStore | None = None
        self._conversation: Conversation | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dash_tasks: list[asyncio.Task[None]] = []
        self._drain_on_stop = True
        self._closed = False

    # -- hooks -------------------------------------------------------------

    @property
    def batch(self) -> TickBatch:
        """The open tick batch (dashboards write their receipts into it)."""
        return self._recorder.batch

    @property
    def backlog(self) -> int:
        """Detections in the outbox (committed, not yet acked)."""
        return self._recorder.backlog

    @property
    def stream_cache(self) -> dict[int, tuple[int | None, int | None]]:
        return self._sink.stream_cache

    def stream_info(self, seq: int, event: dict[str, Any]) -> tuple[int | None, int | None]:
        """Record a stream event seen for the first time (see ``_stream_sink``)."""
        return self._sink.stream_info(seq, event)

    def stop(self, drain: bool = True) -> None:
        """End the production phase; ``run()`` then drains (unless ``drain=False``) and closes."""
        self._drain_on_stop = drain
        self.stop_event.set()

    def pause_production(self) -> None:
        self.producing = False

    def resume_production(self) -> None:
        if not self.producing:
            self._scheduler.respread_generation(asyncio.get_running_loop().time())
        self.producing = True

    def set_clock_skew(self, node_ids: Iterable[str], offset_s: float) -> None:
        """From now on these nodes' clocks are ``offset_s`` wrong (negative: behind), as a
        node without GPS fix or NTP is: the ``captured_at`` they write is shifted, and the
        ledger records the shift per detection (the true generation time stays known).
        ``KeyError`` for an id that is not one of this fleet's started nodes."""
        wanted = list(node_ids)
        by_id = {n.node_id: idx for idx, n in self.nodes.items()}
        missing = [node_id for node_id in wanted if node_id not in by_id]
        if missing:
            raise KeyError(f"not nodes of this fleet: {', '.join(missing[:5])}")
        skews = self._recorder.clock_skew_s
        for node_id in wanted:
            if offset_s:
                skews[by_id[node_id]] = float(offset_s)
            else:
                skews.pop(by_id[node_id], None)

    def clear_clock_skew(self, node_ids: Iterable[str] | None = None) -> None:
        """Set these nodes' clocks right again (every node's when ``None``)."""
        if node_ids is None:
            self._recorder.clock_skew_s.clear()
        else:
            self.set_clock_skew(node_ids, 0.0)

    def clock_skews(self) -> dict[str, float]:
        """node id -> its clock's offset (s), for the nodes whose clock is wrong now."""
        return {self.nodes[idx].node_id: skew
                for idx, skew in self._recorder.clock_skew_s.items() if idx in self.nodes}

    def snapshot(self) -> dict[str, Any]:
        """Counters plus live gauges, JSON-ready."""
        d = asdict(self.counters)
        d["status_errors"] = {str(k): v for k, v in self.counters.status_errors.items()}
        d.update(
            backlog=self.backlog,
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

    def clock_offset(self) -> OffsetEstimate | None:
        """The server's clock minus ours, from this fleet's recent samples (None: none)."""
        return self.clock.estimate()

    async def poll_commands(self, node_id: str) -> None:
        """Poll one node's commands now (the harness may call it instead of waiting a heartbeat)."""
        idx = self._sink.index_of(node_id)
        if idx is not None and idx in self.nodes:
            await self._started_conversation().poll_commands(self.nodes[idx])

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
        """Load the state file, register or resume every node, start dashboards and workers."""
        cfg = self.config
        if not cfg.enrollment_key:
            raise ValueError(
                "no enrollment key: pass --enrollment-key or set SENTINEL_ENROLLMENT_KEY"
            )
        if cfg.dashboards and not cfg.viewer_token:
            raise ValueError("no viewer token: pass --viewer-token or set SENTINEL_VIEWER_TOKEN")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.ssl_context = _client_context(cfg)  # before anything is opened
        store = self._store = FleetStore(self.db_path)
        store.set_meta("target", cfg.target)
        now = asyncio.get_running_loop().time()
        self._progress.start(now)
        ids = cfg.node_ids()
        names = self._recorder.load(store, ids, self.nodes)
        self._sink.set_names(names)
        log.info("state %s: %d nodes, %d in outbox", self.db_path, len(self.nodes), self.backlog)
        self._http = HttpPool(
            cfg.target, size=cfg.concurrency + self._reg_workers + self._hb_workers,
            timeout_s=cfg.request_timeout_s,
            connect_timeout_s=cfg.connect_timeout_s, ssl_context=self.ssl_context,
        )
        sched = self._scheduler
        conversation = self._conversation = Conversation(
            self._http, sched, self._recorder, self.counters,
            RetryPolicy(self._rng, cfg.backoff_base_s, cfg.backoff_cap_s),
            enrollment_key=cfg.enrollment_key, seed=cfg.seed, batch_max=cfg.batch_max,
            clock=self.clock,
        )
        for node_id in ids:
            node = self.nodes[names[node_id]]
            sched.plan(node, now)
            if node.token is None:
                sched.queue_register(node)
            else:
                sched.queue_send(node, now)
        await self._start_dashboards(store, conversation)
        self._tasks = sched.start_workers(
            conversation, senders=cfg.concurrency, registrars=self._reg_workers,
            heartbeaters=self._hb_workers,
        )
        self._tasks.append(asyncio.create_task(sched.run_ticker(cfg.tick_s, self._tick)))

    async def _start_dashboards(self, store: FleetStore, conversation: Conversation) -> None:
        """One client per dashboard, resuming where its last run stopped (a new one starts
        at the stream head, or at ``dashboard_since``)."""
        cfg = self.config
        names = cfg.dashboard_names()
        if not names:
            return
        rows = [store.dashboard_row(n) for n in names]
        baseline: int | None = cfg.dashboard_since
        if baseline is None and any(r[2] is None for r in rows):
            baseline = await conversation.stream_head(wait_s=10.0)
            if baseline is None:
                log.warning("GET /health gave no stream head; dashboards replay from seq 0")
                baseline = 0
        recorded = store.stream_state()
        for (idx, _base, last), name in zip(rows, names, strict=True):
            if last is None:
                assert baseline is not None
                store.set_dashboard_baseline(idx, baseline)
                last = baseline
            client = DashboardClient(
                idx, name, cfg.stream_target or cfg.target, str(cfg.viewer_token), self._sink,
                int(last), counters=store.dashboard_counters(idx),
                sessions=store.dashboard_sessions(idx),
                delivery=self.delivery_window, e2e=self.e2e_window,
                backoff_base_s=cfg.backoff_base_s, backoff_cap_s=cfg.backoff_cap_s,
                ssl_context=self.ssl_context, clock=self.clock,
            )
            self.dashboards.append(client)
        self._sink.resume(recorded, floor=min(d.last_seq for d in self.dashboards))
        self._dash_tasks = [
            asyncio.create_task(d.run(self.stop_event)) for d in self.dashboards
        ]

    async def drain(self, timeout: float) -> DrainResult:
        """Stop producing; send until the outbox is empty, then let dashboards reach the head."""
        self.producing = False
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        deadline = t0 + timeout
        recorder = self._recorder
        # A tick may be committing detections it generated just before production stopped.
        while (self.backlog > 0 or recorder.in_commit) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        empty = self.backlog == 0
        head: int | None = None
        caught = not self.dashboards
        if self.dashboards and empty:
            conversation = self._started_conversation()
            stable = 0
            while loop.time() < deadline:
                h = await conversation.stream_head(
                    wait_s=min(2.0, max(0.1, deadline - loop.time()))
                )
                if h is not None and self.dashboards_at(h):
                    stable = stable + 1 if h == head else 0
                    head = h
                    if stable >= 2:
                        caught = True
                        break
                else:
                    head = h if h is not None else head
                await asyncio.sleep(0.2)
        await recorder.flush_async()
        return DrainResult(empty, self.backlog, caught, head, loop.time() - t0)

    def dashboards_at(self, head: int) -> bool:
        """Every dashboard still running has ``head``: one that gave up for good (``fatal``,
        after 4401/4403/4400) never will, and says why itself."""
        return all(d.last_seq >= head for d in self.dashboards if d.fatal is None)

    async def close(self) -> None:
        """Stop everything, commit what is left, close the state file and the connections."""
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
        await self._recorder.settle()  # a commit still running in its thread
        if self._recorder.is_open:
            self._progress.report(asyncio.get_running_loop().time(), final=True)
            self._recorder.flush()
            if self._store is not None and len(self.clock):
                self._store.set_clock_samples(self.clock.best())
        if self._http is not None:
            await self._http.aclose()
        self._recorder.close()

    # -- one tick ----------------------------------------------------------

    async def _tick(self, now: float) -> None:
        """Generate what is due, commit, and only then send it; then the other due work."""
        recorder = self._recorder
        sched = self._scheduler
        if self.producing:
            self.counters.generated += recorder.generate(sched.due_generation(now), time.time())
        released = await recorder.commit()  # store first: nothing leaves before it is durable
        now = asyncio.get_running_loop().time()
        for node in released:
            sched.queue_send(node, now)
        sched.release_due(now)
        mono = time.monotonic()
        for d in self.dashboards:
            d.check_alive(mono)
        if self._progress.tick(now):
            self._sink.trim(self.dashboards)

    def _started_conversation(self) -> Conversation:
        if self._conversation is None:
            raise RuntimeError("the fleet is not started: await start() first")
        return self._conversation


def _client_context(cfg: FleetConfig) -> ssl.SSLContext | None:
    """The fleet's TLS context when the ingest or the stream URL is TLS, else None."""
    urls = [cfg.target, cfg.stream_target or cfg.target]
    if not any(is_tls_url(u) for u in urls):
        return None
    return client_context(cfg.tls)
