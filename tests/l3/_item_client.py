"""An HTTP client with retries that PUTs idempotent items across a lossy link.

Tuned for heavy loss without touching kernel TCP settings:
- short connect timeout: a fresh SYN now beats waiting out the kernel's
  1 s, 3 s, ... SYN retransmit backoff;
- a read timeout long enough for TCP's own retransmits (RTO 0.2, 0.4,
  0.8 s) to carry a request and its reply on an established connection,
  which is cheaper than a new handshake; after it the attempt is abandoned
  and the connection dropped (its state is unknown; the PUT is idempotent,
  so retrying is safe);
- a connection that works is kept (HTTP/1.1 keep-alive, one per worker):
  under 50% loss both ways a handshake succeeds one time in four per SYN,
  while a request on an established connection is retransmitted by TCP;
  `reuse=False` gives one short-lived connection per attempt instead;
- exponential backoff with jitter between attempts, small because the
  failures here are loss, not overload;
- a bounded pool of workers, and one deadline for the whole transfer.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

CONNECT_TIMEOUT_S = 0.25
READ_TIMEOUT_S = 2.0
BACKOFF_START_S = 0.01
BACKOFF_MAX_S = 0.2


@dataclass
class Transfer:
    items: int
    acked: int
    attempts: int
    connections: int
    seconds: float


def body_of(item: int) -> bytes:
    return json.dumps({"item": item, "payload": "x" * 64}).encode()


class Worker(threading.local):
    """Per-thread client state: the kept connection and a count of connections opened."""

    conn: http.client.HTTPConnection | None = None
    opened: int = 0


class ItemClient:
    def __init__(self, host: str, port: int, reuse: bool = True) -> None:
        self.host = host
        self.port = port
        self.reuse = reuse
        self._local = Worker()
        self._opened_lock = threading.Lock()
        self.connections = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._local.conn is not None:
            return self._local.conn
        conn = http.client.HTTPConnection(self.host, self.port, timeout=READ_TIMEOUT_S)
        sock = socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT_S)
        sock.settimeout(READ_TIMEOUT_S)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock = sock
        with self._opened_lock:
            self.connections += 1
        self._local.conn = conn
        return conn

    def _drop(self) -> None:
        if self._local.conn is not None:
            self._local.conn.close()
            self._local.conn = None

    def put_once(self, item: int) -> int:
        """One attempt: one PUT on a (kept or new) connection; its status, 0 on failure."""
        try:
            conn = self._connection()
            # http.client sends headers and body in two send() calls; corking makes them
            # one segment: one packet to get across instead of two (and no Nagle stall)
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            conn.request("PUT", f"/items/{item}", body=body_of(item),
                         headers={"Content-Type": "application/json"})
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException):
            self._drop()
            return 0
        if not self.reuse:
            self._drop()
        return status

    def put_with_retries(self, item: int, deadline: float) -> int:
        """PUT until acked (2xx) or the deadline passes; attempts made (negative: gave up)."""
        backoff = BACKOFF_START_S
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            status = self.put_once(item)
            if 200 <= status < 300:
                return attempts
            if status == 409:
                raise RuntimeError(f"item {item}: 409 conflict, the server has other content")
            time.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        return -attempts

    def close(self) -> None:
        self._drop()


def transfer(host: str, port: int, items: int, workers: int, time_cap_s: float,
             reuse: bool = True) -> Transfer:
    """PUT items 0..items-1 with `workers` in parallel; stop retrying at `time_cap_s`."""
    client = ItemClient(host, port, reuse=reuse)
    start = time.monotonic()
    deadline = start + time_cap_s

    def one(i: int) -> int:
        return client.put_with_retries(i, deadline)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, range(items)))
        for _ in range(workers):  # close kept connections, one per worker thread
            pool.submit(client.close)
    return Transfer(
        items=items,
        acked=sum(1 for r in results if r > 0),
        attempts=sum(abs(r) for r in results),
        connections=client.connections,
        seconds=time.monotonic() - start,
    )


def stats(host: str, port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection(host, port, timeout=5.0)
    try:
        conn.request("GET", "/stats")
        data: dict[str, int] = json.loads(conn.getresponse().read())
        return data
    finally:
        conn.close()
