"""A TCP transfer through duplicate + corrupt + reorder (both ways) arrives intact.

TCP must throw the corrupted segments away (their checksum fails) and resend them,
drop the duplicates and put the reordered ones back in order: the bytes that come
out are the bytes that went in, and the namespace's TCP counters show it happened.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading

from chaos.l3 import Link

from ._shaper_skip import require_impairments

require_impairments()

PAYLOAD_BYTES = 2 * 1024 * 1024
TIMEOUT_S = 60.0


def _tcp_csum_errors(link: Link) -> int:
    lines = [ln.split() for ln in link.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
             if ln.startswith("Tcp:")]
    return int(lines[1][lines[0].index("InCsumErrors")])


def test_tcp_transfer_through_duplicate_corrupt_reorder_arrives_intact(link: Link) -> None:
    for kind, params in (("duplicate", {"fraction": 0.05}), ("corrupt", {"fraction": 0.02}),
                         ("reorder", {"fraction": 0.1, "gap": 3})):
        link.shape(kind, params, "both")
    before = _tcp_csum_errors(link)
    data = os.urandom(PAYLOAD_BYTES)
    server = link.socket()
    server.bind((link.ns_address, 0))
    server.listen(1)
    server.settimeout(TIMEOUT_S)
    received = hashlib.sha256()
    got = [0]

    def serve() -> None:
        conn, _ = server.accept()
        conn.settimeout(TIMEOUT_S)
        with conn:
            while chunk := conn.recv(65536):
                received.update(chunk)
                got[0] += len(chunk)

    reader = threading.Thread(target=serve, daemon=True)
    reader.start()
    try:
        with socket.create_connection(server.getsockname(), timeout=TIMEOUT_S) as client:
            client.sendall(data)
        reader.join(TIMEOUT_S)
    finally:
        server.close()
    assert not reader.is_alive(), "the transfer did not finish"
    corrupted = _tcp_csum_errors(link) - before
    print(f"\nTCP through duplicate 5% + corrupt 2% + reorder 10%: {got[0]} bytes, "
          f"{corrupted} segments failed their checksum in the namespace")
    assert got[0] == len(data)
    assert received.digest() == hashlib.sha256(data).digest()
    assert corrupted > 0, "no corrupted segment reached the receiver: corrupt did nothing"
