"""The link itself: addresses both ways, processes inside, flapping, bandwidth caps,
availability reporting, the asyncio wrapper."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import subprocess
import sys
import threading
import time

import pytest

from chaos.l3 import Link, open_link, open_link_async
from chaos.l3._availability import _static_check

from ._udp import one_way


def test_concurrent_links_get_disjoint_networks(link: Link) -> None:
    with open_link() as other:
        assert other.namespace != link.namespace
        assert not other.addresses.network.overlaps(link.addresses.network)
        for lk in (link, other):
            assert ipaddress.IPv4Address(lk.ns_address) in lk.addresses.network
            assert len(lk.names.veth_root) <= 15


def test_process_in_namespace_reaches_back_to_root_address(link: Link) -> None:
    """A process in the namespace (say, a fleet) connects to a listener on the root side."""
    srv = socket.socket()
    srv.bind((link.root_address, 0))
    srv.listen(1)
    srv.settimeout(10)
    port = srv.getsockname()[1]
    code = (
        "import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 5);"
        "s.sendall(b'from-ns'); s.close()"
    )
    proc = link.popen([sys.executable, "-c", code, link.root_address, str(port)])
    try:
        conn, peer = srv.accept()
        with conn:
            conn.settimeout(5)
            assert conn.recv(16) == b"from-ns"
        assert peer[0] == link.ns_address
        assert proc.wait(10) == 0
    finally:
        srv.close()


def test_namespace_has_only_its_link_and_loopback(link: Link) -> None:
    out = link.run(["ip", "-o", "link", "show"]).stdout
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())
    assert names == sorted(["lo", link.names.veth_ns])
    assert "UP" in link.run(["ip", "link", "show", "lo"]).stdout
    routes = link.run(["ip", "route", "show"]).stdout
    assert "default" not in routes


def test_stop_process_kills_by_pid(link: Link) -> None:
    proc = link.popen(["sleep", "300"])
    assert proc.poll() is None
    link.stop_process(proc)
    assert proc.returncode is not None


def test_partition_flaps_on_and_off(link: Link) -> None:
    link.flap(on_s=0.3, off_s=0.3)
    received = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        received.append(one_way(link, "to_ns", 20).received)
    cycles = link.flap_cycles
    link.stop_flapping()
    assert cycles >= 2
    assert 0 in received, "never saw the partition"
    assert max(received) == 20, "never saw the link up"
    assert one_way(link, "to_ns", 200).lost == 0, "stopping the flap must leave the link clean"


def test_loss_flap_adds_to_base_faults(link: Link) -> None:
    link.partition("from_ns")
    link.flap(on_s=0.2, off_s=0.2, loss=0.5, direction="to_ns")
    time.sleep(0.1)
    assert link.faults.partition_from_ns
    link.stop_flapping()
    assert link.faults.partition_from_ns and link.faults.loss_to_ns == 0.0


def _tcp_transfer_seconds(link: Link, nbytes: int) -> float:
    sink = link.socket()
    sink.bind((link.ns_address, 0))
    sink.listen(1)
    got = [0]

    def drain() -> None:
        conn, _ = sink.accept()
        with conn:
            while chunk := conn.recv(65536):
                got[0] += len(chunk)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    start = time.monotonic()
    with socket.create_connection(sink.getsockname(), timeout=30) as c:
        c.sendall(b"x" * nbytes)
    t.join(60)
    sink.close()
    assert got[0] == nbytes
    return time.monotonic() - start


def test_bandwidth_cap_slows_a_transfer(link: Link) -> None:
    """8 Mbit/s towards the namespace: 2 MB need >= 2 s; lower bound only (timing is loose)."""
    link.set_bandwidth(8000, "to_ns")
    qdisc = subprocess.run(["tc", "qdisc", "show", "dev", link.names.veth_root],
                           capture_output=True, text=True).stdout
    assert "tbf" in qdisc and "8Mbit" in qdisc
    capped = _tcp_transfer_seconds(link, 2_000_000)
    link.set_bandwidth(None)
    print(f"\nL3 tbf 8 Mbit/s: 2 MB in {capped:.2f}s (theory 2.0s)")
    assert capped >= 1.5


def test_missing_tools_give_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = _static_check()
    assert reason is not None and "\n" not in reason
    assert "nft" in reason and "apt-get install nftables" in reason


async def test_async_wrapper() -> None:
    async with open_link_async() as link:
        await asyncio.to_thread(link.set_loss, 0.5, "to_ns")
        assert link.faults.loss_to_ns == 0.5
    assert link.closed
