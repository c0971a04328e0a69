"""``sentinel-sim``: run a simulated fleet against any backend URL, or summarize a ledger.

``https://`` targets: ``--ca-file``/``--client-cert``/``--client-key``/``--insecure``
(``simulator.tls``). One TLS connection is made before any node starts, so a certificate
problem is one line and exit 2, not a thousand failing nodes; ``--insecure`` is said
loudly on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from simulator.fleet import Fleet, FleetConfig
from simulator.ledger import Ledger
from simulator.tls import (
    INSECURE_WARNING,
    TlsOptions,
    TlsPreflightError,
    add_tls_arguments,
    client_context,
    preflight,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sentinel-sim", description="Simulated Sentinel edge nodes and dashboards."
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fleet", help="run nodes and dashboards against a backend")
    f.add_argument("--target", required=True, help="backend base URL, e.g. http://127.0.0.1:8000")
    f.add_argument("--nodes", type=int, default=10)
    f.add_argument("--rate", type=float, default=0.1, help="detections per second per node")
    f.add_argument("--dashboards", type=int, default=1)
    f.add_argument(
        "--duration", type=float, default=60.0, help="seconds of production (0: until Ctrl-C)"
    )
    f.add_argument("--state", type=Path, required=True, help="state dir (outboxes, tokens, ledger)")
    f.add_argument("--enrollment-key", default=None, help="default: $SENTINEL_ENROLLMENT_KEY")
    f.add_argument("--viewer-token", default=None, help="default: $SENTINEL_VIEWER_TOKEN")
    f.add_argument("--processes", type=int, default=1, help="shard nodes across processes")
    f.add_argument("--heartbeat", type=float, default=10.0, help="heartbeat interval, seconds")
    f.add_argument("--drain-timeout", type=float, default=30.0)
    f.add_argument("--node-prefix", default="edge")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--concurrency", type=int, default=64, help="HTTP connections per process")
    f.add_argument("--batch-max", type=int, default=500)
    f.add_argument(
        "--since", type=int, default=None, help="dashboards' first since (default: head)"
    )
    f.add_argument("--shard", type=int, default=None, help=argparse.SUPPRESS)
    f.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    f.add_argument("--quiet", action="store_true", help="no progress line")
    f.add_argument("--log-level", default="WARNING")
    add_tls_arguments(f)
    led = sub.add_parser("ledger", help="summarize a fleet's ledger")
    led.add_argument("--state", type=Path, required=True)
    return p


def _config(a: argparse.Namespace, shard: int, shards: int) -> FleetConfig:
    return FleetConfig(
        target=a.target, state_dir=a.state, nodes=a.nodes, rate=a.rate, dashboards=a.dashboards,
        duration=a.duration or None, enrollment_key=a.enrollment_key, viewer_token=a.viewer_token,
        heartbeat_s=a.heartbeat, drain_timeout_s=a.drain_timeout, node_prefix=a.node_prefix,
        seed=a.seed, concurrency=a.concurrency, batch_max=a.batch_max, dashboard_since=a.since,
        shard=shard, shards=shards, progress=not a.quiet, tls=TlsOptions.from_namespace(a),
    )


async def _run_fleet(cfg: FleetConfig) -> int:
    fleet = Fleet(cfg)
    loop = asyncio.get_running_loop()
    hits = 0

    def on_signal() -> None:
        nonlocal hits
        hits += 1
        if hits == 1:
            print("stopping: draining the outbox (Ctrl-C again to stop now)", file=sys.stderr)
            fleet.stop(drain=True)
        else:
            fleet.stop(drain=False)
            main_task.cancel()

    current = asyncio.current_task()
    assert current is not None
    main_task: asyncio.Task[object] = current
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        snap = await fleet.run()
    except asyncio.CancelledError:
        await fleet.close()
        snap = fleet.snapshot()
    sys.stdout.write(orjson.dumps(snap).decode() + "\n")
    return 0 if snap["conflicts"] == 0 and snap["rejected"] == 0 else 1


def _run_sharded(a: argparse.Namespace) -> int:
    """One child process per shard; Ctrl-C is forwarded; exit code is the worst child's."""
    extra: list[str] = []
    if a.since is None and a.dashboards:
        # One baseline for every shard: each shard's dashboards must see the other shards'
        # first detections too, so the head is read once, before any node starts.
        head = _stream_head(a.target, client_context(TlsOptions.from_namespace(a), a.target,
                                                     quiet=True))
        extra = ["--since", str(head if head is not None else 0)]
    procs = []
    for k in range(a.processes):
        argv = [sys.executable, "-m", "simulator.cli", *sys.argv[1:], *extra, "--shard", str(k),
                "--shards", str(a.processes)]
        procs.append(subprocess.Popen(_strip_processes(argv)))

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return max(p.wait() for p in procs)


def _stream_head(target: str, ctx: ssl.SSLContext | None,
                 wait_s: float = 10.0) -> int | None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(target.rstrip("/") + "/health", timeout=2,
                                        context=ctx) as r:
                head = orjson.loads(r.read()).get("stream_head")
                if isinstance(head, int):
                    return head
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def _strip_processes(argv: list[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for x in argv:
        if skip:
            skip = False
            continue
        if x == "--processes":
            skip = True
            continue
        if x.startswith("--processes="):
            continue
        out.append(x)
    return out


def _ledger_summary(state: Path) -> int:
    with Ledger(state) as led:
        gen = list(led.generated())
        acked = sum(1 for g in gen if g[5] in (200, 201))
        print(f"generated {len(gen)}  acked {acked}  unacked {sum(1 for g in gen if g[5] is None)}"
              f"  conflicts {len(led.conflicts())}")
        for name, d in sorted(led.dashboards().items()):
            n = sum(led.received_stream_seqs(name).values())
            lat = sorted(x[1] for x in led.latencies(name))
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
            print(f"{name}: received {n} (from {d.baseline_seq} to {d.last_seq}) dup {d.duplicates}"
                  f" gaps {d.gaps} ooo {d.out_of_order} reconnects {d.reconnects}"
                  f" delivery p99 {p99 if p99 is None else round(p99, 1)} ms")
    return 0


def _check_tls(a: argparse.Namespace) -> str | None:
    """Preflight the target's TLS (once: a shard's parent did it for its children) and say
    ``--insecure`` out loud; the one-line reason when the target cannot be used."""
    opts = TlsOptions.from_namespace(a)
    if opts.insecure and a.shard is None:
        print(INSECURE_WARNING, file=sys.stderr)
    if a.shard is not None:
        return None
    try:
        preflight(a.target, opts, timeout=5.0)
    except TlsPreflightError as exc:
        return str(exc)
    return None


def _run(cfg: FleetConfig) -> int:
    """uvloop when installed (it ships with uvicorn[standard]): a cheaper event loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(_run_fleet(cfg))
    return int(uvloop.run(_run_fleet(cfg)))


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    if a.cmd == "ledger":
        return _ledger_summary(a.state)
    logging.basicConfig(level=getattr(logging, str(a.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    refused = _check_tls(a)
    if refused is not None:
        print(f"sentinel-sim: {refused}", file=sys.stderr)
        return 2
    if a.processes > 1 and a.shard is None:
        return _run_sharded(a)
    cfg = _config(a, a.shard or 0, a.shards)
    try:
        return _run(cfg)
    except ValueError as exc:
        print(f"sentinel-sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
