"""No toxic drops or reorders bytes it is not meant to touch; many connections work at once."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from tpx_helpers import Upstreams, connect, echo, echo_transfer, recv_exactly

from chaos.toxiproxy import ToxiproxyControl

PAYLOAD = os.urandom(4_000_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()

NON_DESTRUCTIVE = [
    ("none", None),
    ("latency", {"latency": 2, "jitter": 1}),
    ("bandwidth", {"rate": 40_000}),
    ("slicer", {"average_size": 4096, "size_variation": 1024, "delay": 0}),
    ("slow_close", {"delay": 50}),
]


@pytest.mark.parametrize(
    ("kind", "attributes"), NON_DESTRUCTIVE, ids=[k for k, _ in NON_DESTRUCTIVE]
)
@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_checksum_through_toxic(
    control: ToxiproxyControl,
    upstreams: Upstreams,
    kind: str,
    attributes: dict[str, int] | None,
    stream: str,
) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    if attributes is not None:
        control.add_toxic("p", kind, attributes, stream=stream)  # type: ignore[arg-type]
    data = echo_transfer(proxy.listen, PAYLOAD)
    assert len(data) == len(PAYLOAD)
    assert hashlib.sha256(data).hexdigest() == DIGEST


def test_checksum_while_toxics_change_mid_stream(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    """Add, update and remove toxics on both streams while 4 MB are in flight."""
    proxy = control.create_proxy("p", upstreams.add(echo))
    # ~20 MB/s each way so the transfer lasts well beyond the churn below
    control.add_toxic("p", "bandwidth", {"rate": 20_000}, name="base")

    def churn() -> None:
        control.add_toxic("p", "slicer", {"average_size": 3000, "size_variation": 1000})
        control.add_toxic("p", "latency", {"latency": 1}, stream="upstream")
        control.add_toxic("p", "bandwidth", {"rate": 50_000})
        control.update_toxic("p", "bandwidth_downstream", {"rate": 30_000})
        control.add_toxic("p", "timeout", {"timeout": 0}, stream="upstream", name="hold")
        control.remove_toxic("p", "slicer_downstream")
        control.remove_toxic("p", "hold")
        control.update_toxic("p", "latency_upstream", {"latency": 2})
        control.remove_toxic("p", "bandwidth_downstream")
        control.remove_toxic("p", "latency_upstream")
        control.remove_toxic("p", "base")

    data = echo_transfer(proxy.listen, PAYLOAD, during=churn)
    assert len(data) == len(PAYLOAD)
    assert hashlib.sha256(data).hexdigest() == DIGEST
    assert control.toxics("p") == []


def test_500_concurrent_connections(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "latency", {"latency": 20})
    count = 500
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(proxy.listen, timeout=20))
        barrier = threading.Barrier(50)

        def roundtrip(index: int) -> bool:
            sock = socks[index]
            if index < 50:
                barrier.wait(10)
            message = f"connection-{index:04d}".encode() * 10
            sock.sendall(message)
            return recv_exactly(sock, len(message)) == message

        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(roundtrip, range(count)))
        assert all(results)
        assert len(control.get_proxy("p").toxics) == 1
    finally:
        for sock in socks:
            sock.close()


def test_many_live_connections_while_toxics_churn(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    """20 connections echo 4 MB each, twice, while toxics of every non-destructive kind are
    added, updated and removed on both streams (random toxicity): all bytes come back."""
    import random
    import time

    proxy = control.create_proxy("p", upstreams.add(echo))
    payload = PAYLOAD
    kinds = [
        ("latency", {"latency": 1}),
        ("slicer", {"average_size": 2000, "size_variation": 500}),
        ("bandwidth", {"rate": 30_000}),
        ("slow_close", {"delay": 5}),
        ("timeout", {"timeout": 0}),
    ]
    stop = threading.Event()
    churned: list[str] = []

    def churn() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            kind, attributes = rng.choice(kinds)
            name = f"t{len(churned)}"
            stream = rng.choice(["upstream", "downstream"])
            control.add_toxic("p", kind, attributes, stream, rng.random(), name)  # type: ignore[arg-type]
            time.sleep(0.005)
            control.update_toxic("p", name, attributes, toxicity=rng.random())
            control.remove_toxic("p", name)
            churned.append(name)

    churner = threading.Thread(target=churn, daemon=True)
    churner.start()
    try:
        with ThreadPoolExecutor(20) as pool:
            results = list(
                pool.map(lambda _: echo_transfer(proxy.listen, payload, timeout=60), range(40))
            )
    finally:
        stop.set()
        churner.join(30)
    assert all(r == payload for r in results)
    assert len(churned) >= 3
    assert control.toxics("p") == []
