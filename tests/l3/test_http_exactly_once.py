"""1,000 idempotent items over HTTP with retries, across real packet loss both ways:
every item arrives, and is stored exactly once (counted at the server).

Run with ``-s`` for the transfer times at 0%, 25% and 50% loss.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.l3 import Link

from ._item_client import stats, transfer

ITEMS = 1000
WORKERS = 16
TIME_CAP_S = 240.0
SERVER = Path(__file__).with_name("_item_server.py")


@pytest.fixture
def item_server(link: Link) -> Iterator[tuple[str, int]]:
    import subprocess

    proc = link.popen([sys.executable, str(SERVER), "--host", link.ns_address],
                      stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"item server did not start: {line!r}"
        yield link.ns_address, int(line.split()[1])
    finally:
        link.stop_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.slow
@pytest.mark.timeout(330)
@pytest.mark.parametrize("loss", [0.0, 0.25, 0.50])
def test_every_item_exactly_once_under_loss(
    link: Link, item_server: tuple[str, int], loss: float
) -> None:
    host, port = item_server
    link.set_loss(loss, "both")
    result = transfer(host, port, ITEMS, WORKERS, TIME_CAP_S)
    link.heal()
    counted = stats(host, port)
    print(
        f"\nL3 http transfer: loss={loss:.2f} both ways, {ITEMS} items, {WORKERS} workers: "
        f"{result.seconds:.1f}s, {result.attempts} attempts, {result.connections} connections, "
        f"server saw {counted}"
    )
    assert result.acked == ITEMS, f"only {result.acked}/{ITEMS} acked within {TIME_CAP_S}s"
    assert counted["stored"] == ITEMS
    assert counted["conflicts"] == 0
    assert counted["puts"] == ITEMS + counted["retries"]
