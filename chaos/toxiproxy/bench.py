"""Benchmark the embedded Toxiproxy: ``python -m chaos.toxiproxy.bench [--seconds S]``.

Prints, side by side: bulk TCP throughput direct vs through a proxy with no toxic (ratio),
the p50/p99 round trip of a small request/response direct vs proxied (added latency), and
measured vs configured figures for a latency and a bandwidth toxic. The proxy server, the
upstream servers and the client are separate processes (the proxy as it runs standalone).
Bounded: a few seconds per figure, about 20 s in all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from chaos.toxiproxy.control import ToxiproxyControl
from chaos.toxiproxy.provider import _free_port

BUFFER = 1 << 20


def _serve(kind: str, port: int) -> None:
    """Upstream test servers (run in a child process): ``sink`` or ``echo``."""
    listener = socket.create_server(("127.0.0.1", port), backlog=128)

    def sink(conn: socket.socket) -> None:
        buf = bytearray(BUFFER)
        total = 0
        while n := conn.recv_into(buf):
            total += n
        conn.sendall(str(total).encode())
        conn.close()

    def echo(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := conn.recv(65536):
            conn.sendall(data)
        conn.close()

    handler = sink if kind == "sink" else echo
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()



@contextlib.contextmanager
def _child(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # "ready" / "listening on"
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _addr(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host, int(port)


def bulk_throughput(addr: tuple[str, int], seconds: float) -> float:
    """Bytes/s sent to a sink for ``seconds``, counted when the sink confirms receipt."""
    payload = memoryview(os.urandom(BUFFER))
    with socket.create_connection(addr) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * BUFFER)
        start = time.perf_counter()
        deadline = start + seconds
        sent = 0
        while time.perf_counter() < deadline:
            sock.sendall(payload)
            sent += len(payload)
        sock.shutdown(socket.SHUT_WR)
        confirmed = int(sock.recv(64) or b"0")
        elapsed = time.perf_counter() - start
    if confirmed != sent:
        raise RuntimeError(f"sink got {confirmed} of {sent} bytes")
    return sent / elapsed


def round_trips(addr: tuple[str, int], count: int, size: int = 64) -> list[float]:
    """Round-trip times (seconds) of ``count`` small request/responses on one connection."""
    message = b"x" * size
    samples = []
    with socket.create_connection(addr) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < size:
                got += len(sock.recv(size - got))
            samples.append(time.perf_counter() - start)
    return samples


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tail_side_by_side(
    ctl: ToxiproxyControl, direct: tuple[str, int], proxied: tuple[str, int]
) -> None:
    """Added p50/p99 of the direct path (no toxic) and the toxic pipeline, side by side.

    Batches alternate so that load from other processes on the machine falls on both
    alike: a p99 that differs between one run and the next is the machine, a p99 that
    differs between the two columns is the pipeline's extra event-loop hops (one task
    wake-up per toxic per chunk). TCP_NODELAY is on for every proxied socket (uvloop's
    default) and the server collects garbage a handful of times per 10k round trips, so
    neither Nagle nor GC shows here.
    """
    base: list[float] = []
    plain: list[float] = []
    piped: list[float] = []
    for _ in range(6):
        base += round_trips(direct, 500)
        plain += round_trips(proxied, 500)
        for stream in ("upstream", "downstream"):
            ctl.add_toxic("echo", "latency", {"latency": 0}, stream)
        piped += round_trips(proxied, 500)
        ctl.reset()
    print(f"{'added us':16}{'p50':>8}{'p99':>8}")
    for label, samples in (("no toxic", plain), ("0 ms toxics", piped)):
        p50 = (_pct(samples, 0.5) - _pct(base, 0.5)) * 1e6
        p99 = (_pct(samples, 0.99) - _pct(base, 0.99)) * 1e6
        print(f"{label:16}{p50:8.0f}{p99:8.0f}")


def run(seconds: float) -> None:
    sink_port, echo_port, api_port = (_free_port("127.0.0.1") for _ in range(3))
    me = "chaos.toxiproxy.bench"
    with (
        _child([me, "--serve", "sink", str(sink_port)]),
        _child([me, "--serve", "echo", str(echo_port)]),
        _child(["chaos.toxiproxy", "--port", str(api_port)]),
        ToxiproxyControl(f"http://127.0.0.1:{api_port}") as ctl,
    ):
        sink = ctl.create_proxy("sink", f"127.0.0.1:{sink_port}")
        echo = ctl.create_proxy("echo", f"127.0.0.1:{echo_port}")
        direct_sink, direct_echo = ("127.0.0.1", sink_port), ("127.0.0.1", echo_port)

        print("== bulk throughput (1 connection, 1 MiB writes, no toxic) ==")
        bulk_throughput(direct_sink, 0.3)  # warm up
        bulk_throughput(_addr(sink.listen), 0.3)
        direct = bulk_throughput(direct_sink, seconds)
        proxied = bulk_throughput(_addr(sink.listen), seconds)
        print(f"direct          {direct * 8 / 1e9:8.2f} Gbit/s")
        print(f"through proxy   {proxied * 8 / 1e9:8.2f} Gbit/s")
        print(f"ratio           {proxied / direct:8.2f}   (Toxiproxy reference ~0.25)")

        print("== small request/response (64 B, 1 connection, no toxic) ==")
        round_trips(direct_echo, 200)
        round_trips(_addr(echo.listen), 200)
        d = round_trips(direct_echo, 3000)
        p = round_trips(_addr(echo.listen), 3000)
        print(f"{'':16}{'p50 us':>10}{'p99 us':>10}")
        print(f"{'direct':16}{_pct(d, 0.5) * 1e6:10.0f}{_pct(d, 0.99) * 1e6:10.0f}")
        print(f"{'through proxy':16}{_pct(p, 0.5) * 1e6:10.0f}{_pct(p, 0.99) * 1e6:10.0f}")
        print(
            f"{'added':16}{(_pct(p, 0.5) - _pct(d, 0.5)) * 1e6:10.0f}"
            f"{(_pct(p, 0.99) - _pct(d, 0.99)) * 1e6:10.0f}   (Toxiproxy reference ~150 us p50)"
        )

        print("== the toxic pipeline itself (a latency toxic of 0 ms on both streams) ==")
        for name in ("sink", "echo"):
            for stream in ("upstream", "downstream"):
                ctl.add_toxic(name, "latency", {"latency": 0}, stream)
        piped = bulk_throughput(_addr(sink.listen), seconds)
        t = round_trips(_addr(echo.listen), 3000)
        ctl.reset()
        print(f"throughput      {piped * 8 / 1e9:8.2f} Gbit/s   ratio {piped / direct:.2f}")
        print(
            f"added p50/p99   {(_pct(t, 0.5) - _pct(d, 0.5)) * 1e6:8.0f} / "
            f"{(_pct(t, 0.99) - _pct(d, 0.99)) * 1e6:.0f} us"
        )

        print("== where the tail comes from (interleaved batches, no toxic vs 0 ms toxics) ==")
        _tail_side_by_side(ctl, direct_echo, _addr(echo.listen))

        print("== toxics: configured vs measured ==")
        ctl.add_toxic("echo", "latency", {"latency": 50, "jitter": 10})
        lat = round_trips(_addr(echo.listen), 40)
        ctl.remove_toxic("echo", "latency_downstream")
        base = statistics.median(d)
        added = [(x - base) * 1000 for x in lat]
        print(
            f"latency 50 ms +/- 10: added median {statistics.median(added):6.1f} ms, "
            f"min {min(added):5.1f}, max {max(added):5.1f} ms"
        )
        rate = 5000
        ctl.add_toxic("sink", "bandwidth", {"rate": rate}, stream="upstream")
        measured = bulk_throughput(_addr(sink.listen), min(seconds, 3.0))
        ctl.remove_toxic("sink", "bandwidth_upstream")
        print(
            f"bandwidth {rate} KB/s: measured {measured / 1000:8.0f} KB/s "
            f"({(measured / 1000 - rate) / rate * 100:+.1f}%)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.toxiproxy.bench", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput figure")
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]))
        return 0
    run(args.seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
