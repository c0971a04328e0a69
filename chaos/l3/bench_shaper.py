"""Benchmark: what the user-space shaper costs. ``python -m chaos.l3.bench_shaper`` (root).

Prints, for the plain link and the link through the shaper at zero delay (the
shaper sees and verdicts every packet but holds none): UDP packets/s delivered
one way, the shaper's CPU time for them (packets per CPU-second = per core), and
the round-trip latency of a ping-pong (median, p99). Figures, not a pass/fail
test: they depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time

from chaos.l3._availability import require_l3, shaper_available
from chaos.l3._link import Link, open_link

PAYLOAD = b"x" * 64
RECV_TIMEOUT_S = 0.2
CLOCK_TICKS = 100  # USER_HZ


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _flood(link: Link, seconds: float) -> tuple[int, int]:
    """Send UDP root -> namespace as fast as one thread can for `seconds`: (sent, received)."""
    rx = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind((link.ns_address, 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    rx.settimeout(RECV_TIMEOUT_S)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    received = [0]
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            try:
                rx.recv(256)
            except TimeoutError:
                continue
            received[0] += 1

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    sent = 0
    addr = rx.getsockname()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for _ in range(100):
                try:
                    tx.sendto(PAYLOAD, addr)
                    sent += 1
                except BlockingIOError:
                    break
        time.sleep(0.5)
    finally:
        stop.set()
        reader.join()
        tx.close()
        rx.close()
    return sent, received[0]


def _ping_pong(link: Link, count: int) -> list[float]:
    """Round trips root -> namespace -> root, one at a time (seconds each)."""
    echo = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((link.ns_address, 0))
    echo.settimeout(RECV_TIMEOUT_S)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(1.0)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = echo.recvfrom(256)
            except TimeoutError:
                continue
            echo.sendto(data, peer)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    rtts: list[float] = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            client.sendto(PAYLOAD, echo.getsockname())
            try:
                client.recv(256)
            except TimeoutError:
                continue
            rtts.append(time.perf_counter() - start)
    finally:
        stop.set()
        server.join()
        echo.close()
        client.close()
    return rtts


def _row(label: str, sent: int, got: int, seconds: float, cpu: float | None,
         rtts: list[float]) -> str:
    per_core = f"{got / cpu:>13,.0f}" if cpu else f"{'-':>13}"
    rtts_ms = sorted(r * 1000 for r in rtts)
    p99 = rtts_ms[min(len(rtts_ms) - 1, int(0.99 * len(rtts_ms)))]
    return (f"{label:<28}{sent / seconds:>12,.0f}{got / seconds:>12,.0f}{per_core}"
            f"{statistics.median(rtts_ms):>11.3f}{p99:>10.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.l3.bench_shaper")
    parser.add_argument("--seconds", type=float, default=3.0, help="flood length per case")
    parser.add_argument("--pings", type=int, default=500, help="ping-pong round trips")
    args = parser.parse_args(argv)
    require_l3()
    ok, why = shaper_available()
    if not ok:
        print(f"skipped: {why}")
        return 0
    print(f"{'link':<28}{'sent/s':>12}{'recv/s':>12}{'pkts/cpu-s':>13}"
          f"{'rtt p50 ms':>11}{'p99 ms':>10}")
    with open_link() as link:
        sent, got = _flood(link, args.seconds)
        print(_row("plain veth", sent, got, args.seconds, None, _ping_pong(link, args.pings)))
        link.shape("delay", {"latency_s": 0.0}, "both")  # the shaper sees every packet
        pid = link.shaper_pids[0]  # to_ns: the one the flood goes through
        cpu0 = _cpu_seconds(pid)
        sent, got = _flood(link, args.seconds)
        cpu = _cpu_seconds(pid) - cpu0
        print(_row("shaper, zero delay, 1 way", sent, got, args.seconds, cpu,
                   _ping_pong(link, args.pings)))
    print("rtt through the shaper crosses it twice (both directions are shaped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
