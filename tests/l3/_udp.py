"""Count UDP datagrams across a link: how many of N arrive, per direction."""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from dataclasses import dataclass

from chaos.l3 import Link

PACE_EVERY = 20
PACE_SLEEP_S = 0.001
DRAIN_S = 0.5


@dataclass(frozen=True)
class Measured:
    sent: int
    received: int

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss(self) -> float:
        return self.lost / self.sent


def binomial_tolerance(n: int, p: float, sigmas: float = 4.5) -> float:
    """Allowed |lost - n*p| in packets: `sigmas` binomial standard deviations."""
    return sigmas * math.sqrt(n * p * (1.0 - p))


def _pair(link: Link, direction: str) -> tuple[socket.socket, socket.socket, tuple[str, int]]:
    """(sender, receiver, receiver address) for one direction."""
    if direction == "to_ns":
        rx = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((link.ns_address, 0))
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    else:
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((link.root_address, 0))
        tx = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return tx, rx, rx.getsockname()


def one_way(link: Link, direction: str, n: int) -> Measured:
    """Send `n` numbered datagrams in `direction`; count the distinct ones that arrive."""
    tx, rx, addr = _pair(link, direction)
    seen: set[int] = set()
    stop = threading.Event()
    rx.settimeout(0.05)

    def receive() -> None:
        while not stop.is_set():
            try:
                data = rx.recv(64)
            except TimeoutError:
                continue
            seen.add(struct.unpack("!I", data[:4])[0])

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    try:
        for i in range(n):
            tx.sendto(struct.pack("!I", i) + b"sentinel", addr)
            if i % PACE_EVERY == PACE_EVERY - 1:
                time.sleep(PACE_SLEEP_S)
        time.sleep(DRAIN_S)
    finally:
        stop.set()
        reader.join()
        tx.close()
        rx.close()
    return Measured(sent=n, received=len(seen))


def round_trip(link: Link, n: int) -> Measured:
    """Send `n` datagrams to an echo socket in the namespace; count the echoes that return."""
    echo = link.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind((link.ns_address, 0))
    echo.settimeout(0.05)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(0.05)
    stop = threading.Event()
    seen: set[int] = set()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = echo.recvfrom(64)
            except TimeoutError:
                continue
            echo.sendto(data, peer)

    def receive() -> None:
        while not stop.is_set():
            try:
                data = client.recv(64)
            except TimeoutError:
                continue
            seen.add(struct.unpack("!I", data[:4])[0])

    threads = [threading.Thread(target=f, daemon=True) for f in (serve, receive)]
    for t in threads:
        t.start()
    try:
        addr = echo.getsockname()
        for i in range(n):
            client.sendto(struct.pack("!I", i) + b"sentinel", addr)
            if i % PACE_EVERY == PACE_EVERY - 1:
                time.sleep(PACE_SLEEP_S)
        time.sleep(DRAIN_S)
    finally:
        stop.set()
        for t in threads:
            t.join()
        echo.close()
        client.close()
    return Measured(sent=n, received=len(seen))
