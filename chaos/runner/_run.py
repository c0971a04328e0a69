"""One chaos run, start to verdict: stack, fleet, timeline, drain, evidence, reports.

The order matters: the stack is up before the fleet registers; dashboards subscribe from
the stream head at the start (so the verdict judges this run only); the timeline plays
while the fleet generates for the scenario's ``duration``; then generation stops, the
fleet drains (outboxes empty, every dashboard at the stream head) within ``drain``; only
then is the evidence read and judged. Whatever happens, faults are reverted (the player),
the fleet is closed and the stack torn down (``Stack.close``).

Over TLS (``https://`` target, or the embedded stack with ``stack_tls``) the fleet, its
dashboards and the harness's own clients (operator, evidence) verify with the same
options; a ``--target`` is preflighted before anything starts. Only a ``--target`` run
corrects for the backend's clock (on the local stack there is one clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import ssl
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from chaos.report import Published, RunInfo, basic_environment, publish
from chaos.runner._assemble import RunSources, assemble_evidence
from chaos.runner._database_evidence import stream_head
from chaos.runner._remote import (
    check_target_tls,
    clock_line,
    ledger_clock_offset,
    run_context,
    tls_description,
)
from chaos.runner._state_dir import new_state_dir, seal_state_dir
from chaos.runner.adapters import (
    FleetNodes,
    L3Links,
    OperatorApi,
    RunContext,
)
from chaos.runner.live import LiveView
from chaos.scenario import Scenario, TimelinePlayer
from chaos.verdict import EXIT_HARNESS_ERROR, SeriesPoint
from simulator import Fleet, FleetConfig
from simulator.clock_offset import OffsetEstimate
from simulator.tls import TlsOptions

SAMPLE_S = 0.5
REVERT_GRACE_S = 5.0
# Retry/reconnect backoff cap of nodes and dashboards. Small on purpose: after an outage
# (backend killed, database restarted) a dashboard that waits seconds to reconnect would
# charge its own backoff to the backend's delivery latency.
BACKOFF_CAP_S = 0.5


@dataclass
class RunOptions:
    """``target``: aim the fleet at an existing backend (tokens from the environment);
    ``None`` starts the embedded stack. ``backend_env``: extra backend settings for the
    embedded stack (planted faults). ``state_dir``: the root of the runs' fleet state
    (outboxes, ledger, node tokens; one private directory per run, never in ``report_dir``;
    ``None``: ``$XDG_STATE_HOME/sentinel-chaos/runs``). ``out``: where the startup lines,
    live view and summary go (``quiet`` keeps only the summary). ``tls``: how ``https://``
    is verified (a ``--target``'s CA, client certificate, ``insecure``); ``stack_tls``:
    the embedded stack serves TLS with a throwaway CA, which every client then trusts."""

    scenario: Scenario
    report_dir: Path = Path("sentinel-chaos-report")
    junit_path: Path | None = None
    target: str | None = None
    data_dir: Path | None = None
    state_dir: Path | None = None
    backend_env: Mapping[str, str] = field(default_factory=dict)
    quiet: bool = False
    out: TextIO | None = None
    live_every_s: float | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    stack_tls: bool = False


@dataclass
class RunOutcome:
    exit_code: int
    published: Published | None = None
    error: str | None = None


@dataclass
class Endpoints:
    ingest_url: str
    stream_url: str
    enrollment_key: str
    viewer_token: str
    database_url: str | None
    api_url: str
    tls: TlsOptions = field(default_factory=TlsOptions)
    ssl_context: ssl.SSLContext | None = None
    remote: bool = False  # another machine's clock: estimate and correct the offset


def _node_prefix(scenario: Scenario) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "", scenario.name)[:12] or "run"
    return f"{base}-{secrets.token_hex(3)}"


class Runner:
    def __init__(self, options: RunOptions) -> None:
        self.opt = options
        self.out: TextIO = options.out or sys.stdout

    def say(self, text: str) -> None:
        if not self.opt.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    async def run(self) -> RunOutcome:
        scenario = self.opt.scenario
        try:
            if self.opt.target is None:
                from chaos.stack import Stack, StackOptions

                # The ingest link always crosses a namespace where L3 is available (the
                # default topology); the stream link too when a step needs it there.
                links = sorted({"ingest"} | {s.link.name for s in scenario.steps
                                             if s.action.capability.partition(".")[0]
                                             == "l3"
                                             and s.link is not None})
                power_cut = any(s.kind == "power_cut" for s in scenario.steps)
                stack = Stack(StackOptions(data_dir=self.opt.data_dir,
                                           backend_env=dict(self.opt.backend_env),
                                           l3_links=links, echo=self.say,
                                           power_cut=power_cut, tls=self.opt.stack_tls))
                async with stack:
                    return await self._run_on_stack(stack)
            return await self._run_on_target(self.opt.target)
        except (KeyboardInterrupt, asyncio.CancelledError):
            raise
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            if os.environ.get("SENTINEL_CHAOS_DEBUG"):
                traceback.print_exc(file=self.out)
            return RunOutcome(EXIT_HARNESS_ERROR, error=f"the harness could not run: {detail}")

    async def _run_on_stack(self, stack: object) -> RunOutcome:
        from chaos.stack import Stack, StackBackend, StackDatabase, unavailable_faults
        from chaos.toxiproxy import AsyncToxiproxyControl, StepToxiproxy

        assert isinstance(stack, Stack)
        assert stack.backend is not None and stack.postgres is not None
        tls = (replace(self.opt.tls, ca_file=stack.ca_file) if stack.ca_file is not None
               else self.opt.tls)
        ssl_context = run_context(tls, stack.backend_url, stack.ingest_url, stack.stream_url)
        endpoints = Endpoints(stack.ingest_url, stack.stream_url, stack.enrollment_key,
                              stack.viewer_token, stack.database_url, stack.backend_url,
                              tls=tls, ssl_context=ssl_context)
        control = AsyncToxiproxyControl(stack.toxiproxy_url)
        unavailable: dict[str, str] = {}
        if not stack.links:
            unavailable["l3"] = stack.l3_reason or "no L3 link in this run"
        unavailable.update(unavailable_faults(stack))
        ctx_parts = dict(
            toxiproxy=StepToxiproxy(control),
            l3=L3Links(stack.links) if stack.links else None,
            backend=StackBackend(stack),
            database=StackDatabase(stack),
            operator=OperatorApi(stack.backend_url, stack.operator_token,
                                 ssl_context=ssl_context),
        )
        env = stack.environment()
        if tls.insecure and ssl_context is not None:
            env["tls"] = tls_description(tls, stack.backend_url) or env.get("tls", "")
        try:
            return await self._drive(endpoints, ctx_parts, unavailable, env)
        finally:
            await control.aclose()

    async def _run_on_target(self, target: str) -> RunOutcome:
        missing = [k for k in ("SENTINEL_ENROLLMENT_KEY", "SENTINEL_VIEWER_TOKEN")
                   if not os.environ.get(k)]
        if missing:
            return RunOutcome(EXIT_HARNESS_ERROR, error=(
                f"--target needs the backend's tokens: set {' and '.join(missing)}"))
        target = target.rstrip("/")
        tls = self.opt.tls
        refused = await check_target_tls(target, tls)  # before anything starts
        if refused is not None:
            return RunOutcome(EXIT_HARNESS_ERROR, error=refused)
        ssl_context = run_context(tls, target)
        endpoints = Endpoints(target, target, os.environ["SENTINEL_ENROLLMENT_KEY"],
                              os.environ["SENTINEL_VIEWER_TOKEN"],
                              os.environ.get("DATABASE_URL") or None, target,
                              tls=tls, ssl_context=ssl_context, remote=True)
        why = "--target: the backend is not ours to break (no local stack)"
        unavailable = {"toxiproxy": f"{why}; no Toxiproxy in front of {target}",
                       "l3": f"{why}; no network namespace on the path to {target}",
                       "backend": f"{why}; cannot kill or restart {target}",
                       "database": f"{why}; cannot restart its database"}
        operator_token = os.environ.get("SENTINEL_OPERATOR_TOKEN")
        parts: dict[str, object] = {}
        if operator_token:
            parts["operator"] = OperatorApi(target, operator_token, ssl_context=ssl_context)
        else:
            unavailable["operator"] = "set SENTINEL_OPERATOR_TOKEN to run blackout steps"
        env = {"backend": f"{target} (--target)",
               "stored set": "DATABASE_URL" if endpoints.database_url else "GET /api/detections"}
        if (tls_text := tls_description(tls, target)) is not None:
            env["tls"] = tls_text
        self.say(f"target: {target} (fault steps needing the local stack are skipped)")
        return await self._drive(endpoints, parts, unavailable, env)

    async def _drive(self, ep: Endpoints, parts: Mapping[str, object],
                     unavailable: dict[str, str], environment: dict[str, str]) -> RunOutcome:
        scenario = self.opt.scenario
        report_dir = Path(self.opt.report_dir)
        report_dir.mkdir(parents=True, exist_ok=True)
        state_dir = new_state_dir(self.opt.state_dir, scenario.name)
        config = FleetConfig(
            target=ep.ingest_url, state_dir=state_dir, nodes=scenario.fleet.nodes,
            rate=scenario.fleet.rate, dashboards=scenario.fleet.dashboards, duration=None,
            enrollment_key=ep.enrollment_key, viewer_token=ep.viewer_token, heartbeat_s=1.0,
            node_prefix=_node_prefix(scenario), backoff_base_s=0.1, backoff_cap_s=BACKOFF_CAP_S,
            drain_timeout_s=scenario.drain_s, concurrency=min(64, max(4, scenario.fleet.nodes)),
            stream_target=ep.stream_url, tls=ep.tls)
        node_ids = config.node_ids()
        fleet = Fleet(config)
        fleet_nodes = FleetNodes(fleet, node_ids)  # steps see the ids and the clocks
        ctx = RunContext(fleet=fleet_nodes, unavailable=unavailable,
                         **parts)  # type: ignore[arg-type]
        for cap in ("toxiproxy", "l3", "backend", "database", "operator"):
            if getattr(ctx, cap) is None and cap not in unavailable:
                unavailable[cap] = f"{cap} is not available in this run"
        player = TimelinePlayer(scenario.steps, ctx)
        backlog: list[SeriesPoint] = []
        acked: list[SeriesPoint] = []
        harness_errors: list[str] = []
        started_at = time.time()
        self.say(f"fleet: {len(node_ids)} nodes ({node_ids[0]}...) at {scenario.fleet.rate:g}"
                 f"/s -> {ep.ingest_url}; {scenario.fleet.dashboards} dashboards -> "
                 f"{ep.stream_url}; state in {state_dir}")
        start_head = await _database_head(ep.database_url, harness_errors)
        try:
            await fleet.start()
        except BaseException:
            await fleet.close()
            raise
        end_heads: list[int] = []
        live = LiveView(self.out, fleet.snapshot, player,
                        scenario.duration_s + scenario.drain_s, every_s=self.opt.live_every_s)
        tasks = [asyncio.create_task(self._sample(fleet, backlog, acked))]
        if not self.opt.quiet:
            tasks.append(asyncio.create_task(live.run()))
        generation_ended_at: float | None = None
        drained_at: float | None = None
        play = asyncio.create_task(player.run())
        try:
            # Generation lasts the scenario's duration, whenever the timeline ends.
            await asyncio.sleep(scenario.duration_s)
            done: set[asyncio.Task[object]] = {play} if play.done() else set()
            if not done and all(step.end_s <= scenario.duration_s for step in scenario.steps):
                # Steps that end with the run: let their revert finish rather than cut it.
                done, _ = await asyncio.wait({play}, timeout=REVERT_GRACE_S)
            if play in done and play.exception() is not None:
                harness_errors.append(f"timeline: {play.exception()!r}")
            if not play.done():
                play.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await play
            generation_ended_at = time.time()
            live.phase = "draining"
            result = await fleet.drain(scenario.drain_s)
            if result.outbox_empty and result.dashboards_caught_up:
                drained_at = generation_ended_at + result.seconds
                if ep.database_url and fleet.dashboards:
                    drained_at = await _dashboards_at_database_head(
                        fleet, ep.database_url, drained_at,
                        generation_ended_at + scenario.drain_s, end_heads)
            await asyncio.sleep(2 * SAMPLE_S)  # a last backlog sample after the drain
        finally:
            if not play.done():  # an error or Ctrl-C: the player reverts what is in force
                play.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await play
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await fleet.close()
            seal_state_dir(state_dir)
        clock: OffsetEstimate | None = None
        if ep.remote:
            clock = ledger_clock_offset(state_dir)
            self.say(f"clock: {clock_line(clock)}")
        operator = parts.get("operator")
        sources = RunSources(
            state_dir=state_dir, node_ids=node_ids, database_url=ep.database_url,
            api_url=ep.api_url, viewer_token=ep.viewer_token, counters=fleet.counters,
            blackout_calls=operator.calls if isinstance(operator, OperatorApi) else (),
            start_head=start_head, end_head=end_heads[-1] if end_heads else None,
            harness_errors=harness_errors, ssl_context=ep.ssl_context, clock_offset=clock)
        judging_started = time.monotonic()
        evidence = await assemble_evidence(
            sources, fault_windows=player.windows, backlog=backlog, acked_per_s=acked,
            run_started_at=started_at, generation_ended_at=generation_ended_at,
            drained_at=drained_at)
        judging = (f"evidence read in {time.monotonic() - judging_started:.1f} s "
                   f"({len(node_ids)} nodes' stored set from "
                   f"{'the database' if ep.database_url else 'GET /api/detections'})")
        self.say(f"judging: {judging}")
        env = basic_environment()
        env.update(environment)
        env["judging"] = judging
        if ep.remote:
            env["clock offset"] = clock_line(clock)
        env["fleet"] = (f"{len(node_ids)} nodes x {scenario.fleet.rate:g}/s, "
                        f"{scenario.fleet.dashboards} dashboards, ids {config.node_prefix}-*")
        if (skewed := fleet_nodes.skew_summary()) is not None:
            env["clock skew"] = skewed
        run = RunInfo(scenario=scenario, environment=env, started_at=started_at,
                      ended_at=time.time(), state_dir=str(state_dir))
        published = await asyncio.to_thread(publish, evidence, run, report_dir,
                                            junit_path=self.opt.junit_path)
        return RunOutcome(published.exit_code, published=published)

    async def _sample(self, fleet: Fleet, backlog: list[SeriesPoint],
                      acked: list[SeriesPoint]) -> None:
        last_t, last_acked = time.time(), fleet.counters.acked
        while True:
            await asyncio.sleep(SAMPLE_S)
            now = time.time()
            backlog.append(SeriesPoint(now, float(fleet.backlog)))
            count = fleet.counters.acked
            acked.append(SeriesPoint(now, (count - last_acked) / max(1e-6, now - last_t)))
            last_t, last_acked = now, count


async def _database_head(database_url: str | None, errors: list[str]) -> int | None:
    """The database's stream head before the fleet starts: the run's stream window begins
    after it (``None`` without a database, or when it cannot be read: said in ``errors``)."""
    if not database_url:
        return None
    try:
        return await stream_head(database_url)
    except Exception as exc:
        errors.append(f"could not read the stream head at the start: {exc!r}")
        return None


async def _dashboards_at_database_head(fleet: Fleet, database_url: str, drained_at: float,
                                       deadline: float, heads: list[int]) -> float | None:
    """The fleet judges "caught up" against ``/health``'s stream head, which a backend may
    report before (or without) fanning an event out. The database says what was really
    sequenced: every event stamped (none pending) and every dashboard at that head. Returns
    when that held (``None``: not within the drain budget); on a database error, the fleet's
    own answer stands."""
    import asyncpg

    try:
        conn = await asyncpg.connect(database_url, timeout=10)
    except Exception:
        return drained_at
    first = True
    try:
        while True:
            row = await conn.fetchrow(
                "SELECT coalesce(max(seq), 0) AS head, count(*) FILTER (WHERE seq IS NULL) "
                "AS pending FROM stream_events")
            assert row is not None
            if row["pending"] == 0 and fleet.dashboards_at(int(row["head"])):
                heads.append(int(row["head"]))  # the run's stream window ends here
                return drained_at if first else time.time()
            if time.time() >= deadline:
                return None
            first = False
            await asyncio.sleep(0.2)
    except Exception:
        return drained_at
    finally:
        await conn.close()


async def run_scenario(options: RunOptions) -> RunOutcome:
    """Run ``options.scenario`` and return its outcome (exit code, reports)."""
    return await Runner(options).run()
