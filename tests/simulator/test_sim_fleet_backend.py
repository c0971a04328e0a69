"""The fleet against the real backend (embedded PostgreSQL): zero loss through faults."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _simhelpers import check_exactly_once, stored_detections

from simulator import Fleet, FleetConfig, Ledger

pytestmark = pytest.mark.slow

FAST = {"SENTINEL_WS_HEARTBEAT_S": "1", "SENTINEL_COMMAND_ACK_TIMEOUT_S": "3"}


def _config(backend: Any, state: Path, **kw: Any) -> FleetConfig:
    base: dict[str, Any] = dict(
        target=backend.url, state_dir=state, nodes=12, rate=4.0, dashboards=3, duration=None,
        enrollment_key=backend.enrollment_key, viewer_token=backend.viewer_token,
        heartbeat_s=0.5, drain_timeout_s=30.0, backoff_base_s=0.1, backoff_cap_s=1.0,
        request_timeout_s=3.0, dashboard_since=0,
    )
    base.update(kw)
    return FleetConfig(**base)


async def test_backend_killed_and_restarted(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    backend = backend_factory(env=FAST)
    fleet = Fleet(_config(backend, tmp_path))
    run = asyncio.create_task(fleet.run())
    await asyncio.sleep(4)
    assert fleet.counters.acked > 0, fleet.snapshot()
    await asyncio.to_thread(backend.kill)  # SIGKILL by PID
    await asyncio.sleep(3)
    assert fleet.backlog > 0, "the outbox must fill while the backend is down"
    await asyncio.to_thread(backend.start)
    await asyncio.sleep(4)
    fleet.stop()
    snap = await asyncio.wait_for(run, 60)
    assert snap["backlog"] == 0, snap
    assert snap["retries"] > 0
    figures = check_exactly_once(tmp_path, stored_detections(backend.url, backend.viewer_token))
    assert figures["generated"] > 200
    with Ledger(tmp_path) as led:
        assert all(d.reconnects >= 1 for d in led.dashboards().values()), led.dashboards()


def _fleet_cmd(backend: Any, state: Path, duration: float) -> list[str]:
    return [
        sys.executable, "-m", "simulator.cli", "fleet", "--target", backend.url,
        "--nodes", "12", "--rate", "4", "--dashboards", "3", "--duration", str(duration),
        "--state", str(state), "--enrollment-key", backend.enrollment_key,
        "--viewer-token", backend.viewer_token, "--heartbeat", "0.5", "--since", "0",
        "--drain-timeout", "30", "--quiet",
    ]


def test_fleet_sigkilled_and_restarted(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    backend = backend_factory(env=FAST)
    p = subprocess.Popen(_fleet_cmd(backend, tmp_path, 60), stdout=subprocess.DEVNULL)
    try:
        time.sleep(6)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(5)
        with Ledger(tmp_path) as led:
            before = len(led.generated_set())
            in_outbox = len(led.unacked())
        assert before > 100
        p = subprocess.Popen(_fleet_cmd(backend, tmp_path, 4), stdout=subprocess.DEVNULL)
        assert p.wait(90) == 0
    finally:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(5)
    figures = check_exactly_once(tmp_path, stored_detections(backend.url, backend.viewer_token))
    assert figures["generated"] > before, (before, in_outbox)


async def test_blackout_backlog_flushed_and_counted(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    backend = backend_factory(env=FAST)
    fleet = Fleet(_config(backend, tmp_path, nodes=6, dashboards=2))
    run = asyncio.create_task(fleet.run())
    dark = ["edge-00001", "edge-00004"]
    op = httpx.AsyncClient(base_url=backend.url, timeout=10,
                           headers={"Authorization": f"Bearer {backend.operator_token}"})
    try:
        await asyncio.sleep(2)
        r = await op.post("/api/blackout/activate", json={"node_ids": dark, "reason": "test"})
        assert r.status_code == 200, r.text
        await asyncio.sleep(4)
        by_id = {n.node_id: n for n in fleet.nodes.values()}
        assert all(by_id[n].blackout for n in dark), "nodes did not enter blackout"
        held = {n: len(by_id[n].pending) for n in dark}
        assert all(v > 5 for v in held.values()), held
        t_off = time.time()
        r = await op.post("/api/blackout/deactivate", json={"node_ids": dark})
        assert r.status_code == 200, r.text
        await asyncio.sleep(3)
        fleet.stop()
        snap = await asyncio.wait_for(run, 60)
        assert snap["backlog"] == 0, snap
        log = (await op.get("/api/blackout")).json()["log"]
    finally:
        await op.aclose()
    items = stored_detections(backend.url, backend.viewer_token)
    check_exactly_once(tmp_path, items)
    with Ledger(tmp_path) as led:
        queued = {b[0]: b[3] for b in led.blackouts()}
    for node in dark:
        rows = [row for row in log if row["node_id"] == node]
        assert len(rows) == 1, log
        assert rows[0]["deactivated_at"] is not None
        assert rows[0]["detections_queued"] == queued[node] >= held[node] > 0, (rows, queued)
    # the backlog arrived after the deactivation
    late = [i for i in items if i["node_id"] in dark and
            abs(_ts(i["committed_at"]) - t_off) < 60 and _ts(i["committed_at"]) >= t_off]
    assert len(late) >= sum(held.values())


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


async def test_retry_after_is_honoured(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    # SENTINEL_INGEST_QUEUE_MAX (the backend's overload bound) small: 429 + Retry-After.
    backend = backend_factory(env={**FAST, "SENTINEL_INGEST_QUEUE_MAX": "1",
                                   "SENTINEL_GROUP_COMMIT_MAX": "1"})
    # batch_max=1: every send is a single POST, which goes through the bounded queue.
    fleet = Fleet(_config(backend, tmp_path, nodes=40, rate=10.0, dashboards=1,
                          concurrency=64, batch_max=1, drain_timeout_s=60.0))
    run = asyncio.create_task(fleet.run())
    await asyncio.sleep(4)
    fleet.stop()
    snap = await asyncio.wait_for(run, 90)
    with Ledger(tmp_path) as led:
        waits = led.retry_waits()
    overloaded = [w for w in waits if w[1] in (429, 503)]
    assert overloaded, f"no 429/503 seen (status errors {snap['status_errors']})"
    for _node, _status, retry_after, waited, _at in overloaded:
        assert retry_after is not None
        assert retry_after <= waited < retry_after + 2.0, (waited, retry_after)
    print(f"{len(overloaded)} retries after 429/503; waited "
          f"{min(w[3] for w in overloaded):.3f}..{max(w[3] for w in overloaded):.3f} s "
          f"for Retry-After {sorted({w[2] for w in overloaded})}")
    check_exactly_once(tmp_path, stored_detections(backend.url, backend.viewer_token))


async def test_backend_frozen_dashboards_notice_missed_heartbeats(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """SIGSTOP the backend (a dead link that stays open: no RST, no FIN): short request
    timeouts and the WebSocket heartbeat watchdog must notice, and everything resumes."""
    backend = backend_factory(env=FAST)
    fleet = Fleet(_config(backend, tmp_path, nodes=8, dashboards=2, request_timeout_s=1.5))
    run = asyncio.create_task(fleet.run())
    await asyncio.sleep(3)
    pid = backend.pid
    assert pid is not None
    os.killpg(pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(6)
        assert fleet.counters.transport_errors > 0, "request timeouts did not fire"
        assert fleet.backlog > 0
    finally:
        os.killpg(pid, signal.SIGCONT)
    await asyncio.sleep(3)
    fleet.stop()
    snap = await asyncio.wait_for(run, 60)
    assert snap["backlog"] == 0, snap
    check_exactly_once(tmp_path, stored_detections(backend.url, backend.viewer_token))
    with Ledger(tmp_path) as led:
        assert all(d.reconnects >= 1 for d in led.dashboards().values()), led.dashboards()


def test_sharded_fleet_ledger_is_the_union(
    backend_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """--processes 2: disjoint node shards, one dashboard baseline, one ledger view."""
    backend = backend_factory(env=FAST)
    cmd = _fleet_cmd(backend, tmp_path, 4)
    cmd[cmd.index("--since"):cmd.index("--since") + 2] = []  # the parent reads the head
    r = subprocess.run([*cmd, "--processes", "2", "--dashboards", "4"],
                       stdout=subprocess.PIPE, timeout=90)
    assert r.returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["shard-0", "shard-1"]
    check_exactly_once(tmp_path, stored_detections(backend.url, backend.viewer_token))
    with Ledger(tmp_path) as led:
        dash = led.dashboards()
        assert len(dash) == 4 and len({d.baseline_seq for d in dash.values()}) == 1
        assert len({n for n, _ in led.generated_set()}) == 12
