"""Each toxic does what Toxiproxy documents, measured on real sockets with honest tolerances.

Lower bounds are tight (a toxic must never be faster than configured); upper bounds leave
room for a shared 2-core CI machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import time

import pytest
from tpx_helpers import Upstreams, connect, echo, recv_all, recv_exactly, source

from chaos.toxiproxy import ToxiproxyControl


def _rtt(sock: socket.socket, payload: bytes = b"x") -> float:
    start = time.perf_counter()
    sock.sendall(payload)
    recv_exactly(sock, len(payload))
    return time.perf_counter() - start


def test_latency_per_chunk_with_jitter(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "latency", {"latency": 60, "jitter": 20})
    sock = connect(proxy.listen)
    samples = [_rtt(sock) * 1000 for _ in range(12)]
    sock.close()
    assert min(samples) >= 60 - 20 - 1, samples
    assert max(samples) <= 60 + 20 + 40, samples
    assert 50 <= statistics.median(samples) <= 95, samples
    assert statistics.pstdev(samples) > 1, "jitter should vary the delay"


def test_latency_both_streams_add_up(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "latency", {"latency": 40}, stream="upstream")
    control.add_toxic("p", "latency", {"latency": 30}, stream="downstream")
    sock = connect(proxy.listen)
    samples = [_rtt(sock) * 1000 for _ in range(5)]
    sock.close()
    assert all(70 - 1 <= s <= 70 + 40 for s in samples), samples


def test_bandwidth_within_ten_percent(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    size = 600_000
    proxy = control.create_proxy("p", upstreams.add(source(os.urandom(size))))
    control.add_toxic("p", "bandwidth", {"rate": 400})  # 400 KB/s -> 1.5 s
    sock = connect(proxy.listen)
    first = sock.recv(1 << 16)
    start = time.perf_counter()
    rest = recv_all(sock)
    elapsed = time.perf_counter() - start
    sock.close()
    assert len(first) + len(rest) == size
    rate = len(rest) / elapsed / 1000
    assert 400 * 0.9 <= rate <= 400 * 1.1, f"measured {rate:.0f} KB/s for 400 KB/s"


def test_timeout_closes_after_timeout_without_data(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "timeout", {"timeout": 300})
    sock = connect(proxy.listen)
    start = time.perf_counter()
    sock.sendall(b"hello")
    data = recv_all(sock)
    elapsed = time.perf_counter() - start
    sock.close()
    assert data == b""
    assert 0.29 <= elapsed <= 1.5, elapsed


def test_timeout_zero_holds_data_until_removed(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "timeout", {"timeout": 0}, stream="upstream")
    sock = connect(proxy.listen)
    sock.sendall(b"held")
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(4)
    control.remove_toxic("p", "timeout_upstream")
    sock.settimeout(5)
    assert recv_exactly(sock, 4) == b"held"
    sock.close()


def test_reset_peer_sends_rst(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "reset_peer", {"timeout": 200}, stream="upstream")
    sock = connect(proxy.listen)
    start = time.perf_counter()
    sock.sendall(b"boom")
    with pytest.raises(ConnectionResetError):
        sock.recv(10)
    elapsed = time.perf_counter() - start
    sock.close()
    assert 0.19 <= elapsed <= 1.5, elapsed


def test_slow_close_delays_the_fin(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(source(b"payload")))
    control.add_toxic("p", "slow_close", {"delay": 400})
    sock = connect(proxy.listen)
    assert recv_exactly(sock, 7) == b"payload"
    start = time.perf_counter()
    assert sock.recv(10) == b""
    elapsed = time.perf_counter() - start
    sock.close()
    assert 0.3 <= elapsed <= 1.5, elapsed


def test_limit_data_passes_exactly_n_bytes(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    payload = os.urandom(100_000)
    proxy = control.create_proxy("p", upstreams.add(source(payload)))
    control.add_toxic("p", "limit_data", {"bytes": 1234})
    sock = connect(proxy.listen)
    data = recv_all(sock)
    sock.close()
    assert data == payload[:1234]


def test_slicer_slices_without_changing_bytes(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    payload = os.urandom(20_000)
    proxy = control.create_proxy("p", upstreams.add(source(payload)))
    control.add_toxic("p", "slicer", {"average_size": 500, "size_variation": 100, "delay": 2000})
    sock = connect(proxy.listen)
    start = time.perf_counter()
    reads = []
    while data := sock.recv(1 << 16):
        reads.append(data)
    elapsed = time.perf_counter() - start
    sock.close()
    assert b"".join(reads) == payload
    assert len(reads) > 10  # arrived in many small pieces
    # about 40 slices 2 ms apart
    assert 0.05 <= elapsed <= 1.0, elapsed


def test_toxicity_zero_leaves_connections_alone(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "latency", {"latency": 500}, toxicity=0.0)
    sock = connect(proxy.listen)
    assert _rtt(sock) < 0.2
    sock.close()


def test_toxicity_is_per_connection(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "latency", {"latency": 100}, toxicity=0.5)
    slow = 0
    for _ in range(30):
        sock = connect(proxy.listen)
        slow += _rtt(sock) > 0.09
        sock.close()
    assert 3 <= slow <= 27, slow  # P(fail) ~ 1e-5 for a fair coin


def test_toxic_added_and_updated_on_live_connection(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    sock = connect(proxy.listen)
    assert _rtt(sock) < 0.05
    control.add_toxic("p", "latency", {"latency": 100})
    assert 0.099 <= _rtt(sock) <= 0.3
    control.update_toxic("p", "latency_downstream", {"latency": 250})
    assert 0.249 <= _rtt(sock) <= 0.5
    control.remove_toxic("p", "latency_downstream")
    assert _rtt(sock) < 0.05
    sock.close()


def test_destructive_toxics_on_the_other_stream(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    """reset_peer downstream, timeout and slow_close upstream (the tests above use the
    opposite streams), so every toxic is exercised on both."""
    proxy = control.create_proxy("p", upstreams.add(source(b"data" * 1000)))
    control.add_toxic("p", "reset_peer", {"timeout": 100})
    sock = connect(proxy.listen)
    with pytest.raises(ConnectionResetError):
        sock.recv(10)  # the upstream's data triggers the reset; none of it is delivered
    sock.close()
    control.delete_proxy("p")

    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "timeout", {"timeout": 200}, stream="upstream")
    sock = connect(proxy.listen)
    start = time.perf_counter()
    sock.sendall(b"lost")
    assert recv_all(sock) == b""
    assert 0.19 <= time.perf_counter() - start <= 1.5
    sock.close()
    control.delete_proxy("p")

    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "slow_close", {"delay": 300}, stream="upstream")
    sock = connect(proxy.listen)
    sock.sendall(b"bye")
    assert recv_exactly(sock, 3) == b"bye"
    start = time.perf_counter()
    sock.shutdown(socket.SHUT_WR)  # our FIN reaches the upstream 300 ms late, so does its own
    assert sock.recv(10) == b""
    assert 0.29 <= time.perf_counter() - start <= 1.5
    sock.close()
    control.delete_proxy("p")

    payload = os.urandom(50_000)
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "limit_data", {"bytes": 1000}, stream="upstream")
    sock = connect(proxy.listen)
    with contextlib.suppress(OSError):
        sock.sendall(payload)
    try:
        got = recv_all(sock)
    except ConnectionResetError:
        got = b""
    sock.close()
    assert payload[:1000].startswith(got)  # at most the first 1000 bytes made it through
