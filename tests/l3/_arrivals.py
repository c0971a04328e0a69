"""Every UDP datagram's arrival across a link, in arrival order: the raw fidelity data.

Sender and receiver are sockets of this one process (one in the namespace), so
one monotonic clock stamps both ends and one-way delay is measured directly.
"""

from __future__ import annotations

import socket
import statistics
import struct
import threading
import time
from dataclasses import dataclass

from chaos.l3 import Link

HEADER = struct.Struct("!Id")
PAD = b"sentinel-shaper-" * 4
RECV_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class Arrivals:
    sent: int
    seqs: list[int]
    delays_s: list[float]

    @property
    def distinct(self) -> int:
        return len(set(self.seqs))

    @property
    def lost(self) -> int:
        return self.sent - self.distinct

    @property
    def duplicates(self) -> int:
        return len(self.seqs) - self.distinct

    @property
    def late(self) -> int:
        """Arrivals overtaken by a later-sent datagram (the reordered ones)."""
        count, highest = 0, -1
        for seq in self.seqs:
            if seq < highest:
                count += 1
            highest = max(highest, seq)
        return count

    def loss_runs(self) -> list[int]:
        """Lengths of the runs of consecutive sequence numbers that never arrived."""
        got = set(self.seqs)
        runs, run = [], 0
        for seq in range(self.sent):
            if seq in got:
                if run:
                    runs.append(run)
                run = 0
            else:
                run += 1
        if run:
            runs.append(run)
        return runs

    def median_ms(self) -> float:
        return statistics.median(self.delays_s) * 1000

    def quantile_ms(self, q: float) -> float:
        ordered = sorted(self.delays_s)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _pair(link: Link, direction: str) -> tuple[socket.socket, socket.socket]:
    if direction == "to_ns":
        rx = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((link.ns_address, 0))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((link.root_address, 0))
        tx = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    return tx, rx


def arrivals(link: Link, direction: str, n: int, *, interval_s: float = 0.001,
             drain_s: float = 1.0) -> Arrivals:
    """Send `n` numbered, timestamped datagrams `interval_s` apart; record every arrival."""
    tx, rx = _pair(link, direction)
    addr = rx.getsockname()
    seqs: list[int] = []
    delays: list[float] = []
    stop = threading.Event()
    rx.settimeout(RECV_TIMEOUT_S)

    def receive() -> None:
        while not stop.is_set():
            try:
                data = rx.recv(256)
            except TimeoutError:
                continue
            now = time.monotonic()
            seq, sent_at = HEADER.unpack_from(data)
            seqs.append(seq)
            delays.append(now - sent_at)

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    try:
        start = time.monotonic()
        for i in range(n):
            pause = start + i * interval_s - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            tx.sendto(HEADER.pack(i, time.monotonic()) + PAD, addr)
        time.sleep(drain_s)
    finally:
        stop.set()
        reader.join()
        tx.close()
        rx.close()
    return Arrivals(sent=n, seqs=seqs, delays_s=delays)
