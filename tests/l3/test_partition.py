"""A partition blocks connects and stalls an established stream; healing resumes
the same stream (TCP retransmits), without a reconnect."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from chaos.l3 import Link

HEAL_WAIT_S = 15.0  # > sum of TCP RTO backoffs accumulated during a short partition


def _listener(link: Link) -> socket.socket:
    srv = link.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind((link.ns_address, 0))
    srv.listen(16)
    return srv


@pytest.mark.parametrize("direction", ["both", "to_ns", "from_ns"])
def test_partition_blocks_connect(link: Link, direction: str) -> None:
    srv = _listener(link)
    try:
        with socket.create_connection(srv.getsockname(), timeout=2.0):
            pass  # reachable before
        link.partition(direction)
        with pytest.raises(TimeoutError):
            socket.create_connection(srv.getsockname(), timeout=1.0)
        link.heal()
        with socket.create_connection(srv.getsockname(), timeout=5.0):
            pass
    finally:
        srv.close()


def _recv_exactly(sock: socket.socket, n: int, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def test_partition_stalls_stream_and_heal_resumes_it(link: Link) -> None:
    srv = _listener(link)
    accepted: list[socket.socket] = []

    def accept_all() -> None:
        srv.settimeout(0.2)
        while srv.fileno() >= 0:
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                if srv.fileno() < 0:
                    return
                continue
            accepted.append(conn)

    acceptor = threading.Thread(target=accept_all, daemon=True)
    acceptor.start()
    client = socket.create_connection(srv.getsockname(), timeout=5.0)
    try:
        local = client.getsockname()
        client.sendall(b"before")
        deadline = time.monotonic() + 5
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        server_side = accepted[0]
        assert _recv_exactly(server_side, 6, 5.0) == b"before"

        link.partition("both")
        client.sendall(b"during")  # goes into the send queue, retransmitted by TCP
        with pytest.raises(TimeoutError):
            server_side.settimeout(1.5)
            server_side.recv(6)
        server_side.sendall(b"reply1")  # the other way too
        with pytest.raises(TimeoutError):
            client.settimeout(1.0)
            client.recv(6)

        link.heal()
        healed = time.monotonic()
        assert _recv_exactly(server_side, 6, HEAL_WAIT_S) == b"during"
        assert _recv_exactly(client, 6, HEAL_WAIT_S) == b"reply1"
        print(f"\nstream resumed {time.monotonic() - healed:.2f}s after healing (RTO backoff)")
        client.sendall(b"after!")
        assert _recv_exactly(server_side, 6, 5.0) == b"after!"
        assert client.getsockname() == local
        assert len(accepted) == 1, "the client reconnected instead of resuming"
    finally:
        client.close()
        srv.close()
        acceptor.join(timeout=2)
        for conn in accepted:
            conn.close()


def test_one_way_partition_is_one_way(link: Link) -> None:
    """Partition from the namespace only: datagrams still go in, none come out."""
    from ._udp import one_way

    link.partition("from_ns")
    assert one_way(link, "to_ns", 200).lost == 0
    assert one_way(link, "from_ns", 200).received == 0
