"""Scale measurement of the fleet runner: ``python -m simulator.bench``.

Runs the fleet in this process against a real backend (``--target`` with tokens,
or else a ``sentinel-backend serve --ephemeral`` subprocess it starts and stops),
and prints the fleet's OWN CPU (this process only, from getrusage; the backend's
CPU is not counted), the event-loop scheduling lag, and the delivery latency.
Each step is bounded by ``--duration``; steps go up in node count and stop at
the first that is not sustained (loop lag p99 over 100 ms, or acks falling
behind generation by more than 10 %).

``--tls``: every step runs against a plain HTTP backend and an HTTPS one (a throwaway
self-signed certificate, the fleet's usual client context trusting it) and prints the
fleet's CPU per 1,000 nodes side by side: what TLS costs the fleet itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.bench_tls import self_signed_certificate
from simulator.fleet import Fleet, FleetConfig
from simulator.ports import free_port
from simulator.tls import TlsOptions

__all__ = ["StepResult", "main", "run_step"]


def _run_delay() -> float:
    """Seconds the main thread spent runnable but waiting for a CPU (Linux schedstat): on
    shared cores this, not our own work, is what makes loop lag."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class StepResult:
    nodes: int
    dashboards: int
    seconds: float
    cpu_s: float
    generated: int
    acked: int
    received: int
    lag_p99_ms: float | None
    lag_max_ms: float
    delivery_p99_ms: float | None
    backlog_end: int
    requests: int = 0
    retries: int = 0
    transport_errors: int = 0
    status_errors: str = ""
    run_delay_s: float = 0.0

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.seconds

    @property
    def cpu_pct_per_1000_nodes(self) -> float:
        return self.cpu_pct / (self.nodes / 1000.0) if self.nodes else 0.0

    @property
    def sustained(self) -> bool:
        """The fleet kept its own schedule: loop lag p99 under 100 ms, CPU under one core."""
        return (self.lag_p99_ms or 0.0) < 100.0 and self.cpu_pct < 95.0

    @property
    def backend_kept_up(self) -> bool:
        return self.acked >= 0.9 * self.generated

    def line(self) -> str:
        per_k = self.cpu_pct_per_1000_nodes
        return (
            f"nodes={self.nodes} dashboards={self.dashboards} window={self.seconds:.0f}s "
            f"fleet_cpu={self.cpu_pct:.1f}% ({per_k:.1f}% of a core per 1000 nodes) "
            f"gen={self.generated} acked={self.acked} recv_events={self.received} "
            f"lag_p99={self.lag_p99_ms}ms lag_max={self.lag_max_ms:.0f}ms "
            f"waiting_for_cpu={100.0 * self.run_delay_s / self.seconds:.0f}% "
            f"delivery_p99={self.delivery_p99_ms}ms backlog_end={self.backlog_end} "
            f"requests={self.requests} retries={self.retries} "
            f"transport_errors={self.transport_errors} http_errors={self.status_errors or '-'} "
            f"fleet {'SUSTAINED' if self.sustained else 'NOT SUSTAINED'}, backend "
            f"{'kept up' if self.backend_kept_up else 'FELL BEHIND (acks < 90% of generated)'}"
        )


async def run_step(
    target: str, enrollment_key: str, viewer_token: str, nodes: int, rate: float,
    dashboards: int, duration: float, heartbeat_s: float, prefix: str, warmup_s: float = 60.0,
    tls: TlsOptions | None = None,
) -> StepResult:
    """One bounded run; the measurement window starts once every node is registered."""
    state = Path(tempfile.mkdtemp(prefix="sim-bench-"))
    try:
        cfg = FleetConfig(
            target=target, state_dir=state, nodes=nodes, rate=rate, dashboards=dashboards,
            duration=None, enrollment_key=enrollment_key, viewer_token=viewer_token,
            heartbeat_s=heartbeat_s, node_prefix=prefix, drain_timeout_s=0, progress=False,
            concurrency=64, tls=tls or TlsOptions(),
        )
        fleet = Fleet(cfg)
        fleet.pause_production()
        await fleet.start()
        t_end = time.monotonic() + warmup_s
        while time.monotonic() < t_end and fleet.snapshot()["registered"] < nodes:
            await asyncio.sleep(0.5)
        fleet.resume_production()
        await asyncio.sleep(min(5.0, duration / 4))  # reach steady state
        c0 = fleet.counters
        g0, a0, r0 = c0.generated, c0.acked, sum(d.received for d in fleet.dashboards)
        q0, re0, te0 = c0.requests, c0.retries, c0.transport_errors
        fleet.lag.reset()
        fleet.delivery.reset()
        cpu0, t0, rd0 = _cpu(), time.monotonic(), _run_delay()
        await asyncio.sleep(duration)
        cpu1, t1, rd1 = _cpu(), time.monotonic(), _run_delay()
        c1 = fleet.counters
        res = StepResult(
            nodes=nodes, dashboards=dashboards, seconds=t1 - t0, cpu_s=cpu1 - cpu0,
            generated=c1.generated - g0, acked=c1.acked - a0,
            received=sum(d.received for d in fleet.dashboards) - r0,
            lag_p99_ms=fleet.lag.percentile(99), lag_max_ms=fleet.lag.max_seen,
            delivery_p99_ms=fleet.delivery.percentile(99), backlog_end=fleet.backlog,
            requests=c1.requests - q0, retries=c1.retries - re0,
            transport_errors=c1.transport_errors - te0,
            run_delay_s=rd1 - rd0,
            status_errors=",".join(f"{k}:{v}" for k, v in sorted(c1.status_errors.items())),
        )
        fleet.stop(drain=False)
        await fleet.close()
        return res
    finally:
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _own_backend(workers: int, database_url: str | None, tls_dir: Path | None = None
                 ) -> Iterator[tuple[str, str, str]]:
    """``sentinel-backend serve`` as a subprocess (spoken to over HTTP only), on
    ``database_url`` (a migrated database) or else ``--ephemeral``; over HTTPS with the
    certificate in ``tls_dir`` (``self_signed_certificate``) when given."""
    port = free_port()
    enr, view = "enr_" + secrets.token_hex(16), "view_" + secrets.token_hex(16)
    env = dict(os.environ, SENTINEL_ENROLLMENT_KEY=enr, SENTINEL_VIEWER_TOKEN=view,
               SENTINEL_OPERATOR_TOKEN="op_" + secrets.token_hex(16), SENTINEL_ACCESS_LOG="0")
    env.pop("DATABASE_URL", None)
    db_args = ["--ephemeral"]
    tls_args: list[str] = []
    probe_ctx: ssl.SSLContext | None = None
    if tls_dir is not None:
        cert, key = tls_dir / "bench.crt", tls_dir / "bench.key"
        tls_args = ["--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
        probe_ctx = ssl.create_default_context(cafile=str(cert))
    if database_url:
        env["DATABASE_URL"] = database_url
        db_args = []
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - handed to the child
        prefix="sim-bench-backend-", suffix=".log", delete=False
    )
    proc = subprocess.Popen(
        ["sentinel-backend", "serve", *db_args, "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log", *tls_args],
        env=env, stdout=log, stderr=log, start_new_session=True,
    )
    url = f"{'https' if tls_dir is not None else 'http'}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = Path(log.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"backend did not start; its log ends:\n{tail}")
            try:
                with urllib.request.urlopen(url + "/health/ready", timeout=1,
                                            context=probe_ctx) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        print(f"backend: {url} (pid {proc.pid}, log {log.name})", file=sys.stderr)
        yield url, enr, view
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)  # only wanted while it runs (a failed start names it)


def _tls_side_by_side(a: argparse.Namespace, steps: list[int],
                      run: Callable[[Coroutine[Any, Any, None]], None]) -> None:
    """``--tls``: each step against a plain and an HTTPS backend, CPU side by side."""
    tmp = Path(tempfile.mkdtemp(prefix="sim-bench-tls-"))
    try:
        cert, _key = self_signed_certificate(tmp)
        tls = TlsOptions(ca_file=cert)
        with _own_backend(a.backend_workers, None) as plain, \
                _own_backend(a.backend_workers, None, tls_dir=tmp) as secure:

            async def go() -> None:
                for i, n in enumerate(steps):
                    results: list[StepResult] = []
                    for label, (url, enr, view), opts in (("http ", plain, None),
                                                          ("https", secure, tls)):
                        prefix = f"bench{os.getpid()}s{i}{label.strip()}"
                        r = await run_step(url, enr, view, n, a.rate, a.dashboards, a.duration,
                                           a.heartbeat, prefix=prefix, tls=opts)
                        print(f"{label} {r.line()}", flush=True)
                        results.append(r)
                    plain_r, tls_r = results
                    base = plain_r.cpu_pct_per_1000_nodes
                    extra = (f" ({100.0 * (tls_r.cpu_pct_per_1000_nodes / base - 1.0):+.0f} %)"
                             if base > 0 else "")
                    print(f"fleet CPU per 1,000 nodes at {n} nodes: plain HTTP "
                          f"{base:.1f}% of a core, TLS {tls_r.cpu_pct_per_1000_nodes:.1f}%"
                          f"{extra}", flush=True)
                    if not (plain_r.sustained and tls_r.sustained):
                        break

            run(go())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.bench", description=__doc__)
    p.add_argument("--target", default=None, help="backend URL (default: start one)")
    p.add_argument("--enrollment-key", default=os.environ.get("SENTINEL_ENROLLMENT_KEY"))
    p.add_argument("--viewer-token", default=os.environ.get("SENTINEL_VIEWER_TOKEN"))
    p.add_argument("--steps", default="1000,2000,5000,10000", help="node counts, ascending")
    p.add_argument("--rate", type=float, default=0.1)
    p.add_argument("--dashboards", type=int, default=0)
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds per step")
    p.add_argument("--heartbeat", type=float, default=10.0)
    p.add_argument("--backend-workers", type=int, default=1)
    p.add_argument("--database-url", default=None,
                   help="migrated database for the backend this starts (default: --ephemeral)")
    p.add_argument("--tls", action="store_true",
                   help="each step against a plain and an HTTPS backend this starts: fleet CPU "
                        "per 1,000 nodes side by side")
    a = p.parse_args(argv)
    if a.tls and a.target:
        p.error("--tls starts its own plain and HTTPS backends; it does not take --target")
    steps = [int(x) for x in a.steps.split(",") if x]

    async def go(url: str, enr: str, view: str) -> None:
        best = 0
        for i, n in enumerate(steps):
            r0 = await run_step(url, enr, view, n, a.rate, 0, a.duration, a.heartbeat,
                                prefix=f"bench{os.getpid()}s{i}a")
            print(r0.line(), flush=True)
            r = r0
            if a.dashboards:
                r = await run_step(url, enr, view, n, a.rate, a.dashboards, a.duration,
                                   a.heartbeat, prefix=f"bench{os.getpid()}s{i}b")
                print(r.line(), flush=True)
                if r.received:
                    extra = r.cpu_s / r.seconds - r0.cpu_s / r0.seconds
                    per_s = r.received / r.seconds
                    print(f"  dashboards: {per_s:.0f} events/s received, fleet CPU per 10,000 "
                          f"received events: {extra / (per_s / 10_000):.3f} s (CPU above the "
                          f"nodes-only run)", flush=True)
            if not r.sustained:
                break
            best = n
        print(f"most nodes sustained: {best}")

    try:
        import uvloop
        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run  # type: ignore[assignment]
    if a.tls:
        _tls_side_by_side(a, steps, run)
    elif a.target:
        if not a.enrollment_key or (a.dashboards and not a.viewer_token):
            p.error("--target needs --enrollment-key (and --viewer-token with dashboards)")
        run(go(a.target, a.enrollment_key, a.viewer_token or ""))
    else:
        with _own_backend(a.backend_workers, a.database_url) as (url, enr, view):
            run(go(url, enr, view))
    return 0


if __name__ == "__main__":
    sys.exit(main())
