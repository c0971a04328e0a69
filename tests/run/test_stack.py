"""The stack launcher: every part up, traffic really crossing the L3 link, all torn down."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from chaos.l3 import l3_available
from chaos.runner import L3Links
from chaos.stack import Stack, StackOptions

pytestmark = pytest.mark.slow


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


@pytest.mark.l3
def test_ingest_traffic_crosses_the_l3_link_and_everything_is_torn_down() -> None:
    ok, why = l3_available()
    if not ok:
        pytest.skip(f"L3 unavailable: {why}")
    lines: list[str] = []
    stack = Stack(StackOptions(l3_links=("ingest",), echo=lines.append))
    with stack:
        assert stack.backend is not None and stack.postgres is not None
        pids = [stack.backend.pid, stack.postgres.pid, *(p.pid for p in stack.relays.values())]
        namespace = stack.links["ingest"].namespace
        assert namespace in _netns()
        assert httpx.get(stack.ingest_url + "/health", timeout=5).status_code == 200
        assert httpx.get(stack.stream_url + "/health", timeout=5).status_code == 200
        links = L3Links(stack.links)
        asyncio.run(links.partition("ingest", "both"))
        with pytest.raises(httpx.HTTPError):  # the relay's upstream is cut at the veth
            httpx.get(stack.ingest_url + "/health", timeout=3)
        assert httpx.get(stack.stream_url + "/health", timeout=5).status_code == 200
        asyncio.run(links.heal("ingest"))
        assert httpx.get(stack.ingest_url + "/health", timeout=10).status_code == 200
    assert namespace not in _netns()
    for pid in pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert any(line.startswith("postgres:") for line in lines)
    assert any(line.startswith("relay: ingest") for line in lines)


def test_stack_up_prints_urls_and_tokens_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "chaos.cli", "stack", "up", "--no-l3",
                             "--data-dir", str(tmp_path / "pg")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "SENTINEL_VIEWER_TOKEN" not in seen:
            line = proc.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) >= 2 and line.startswith("  "):
                seen[parts[0] if not parts[0].startswith(("backend", "ingest", "stream"))
                     else line[:27].strip()] = parts[-1]
        assert "DATABASE_URL" in seen and "SENTINEL_VIEWER_TOKEN" in seen, seen
        backend = seen["backend (direct)"]
        assert httpx.get(backend + "/health", timeout=5).json()["database"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "stack: stopped" in rest
    with pytest.raises(httpx.HTTPError):
        httpx.get(backend + "/health", timeout=2)
    assert (tmp_path / "pg" / "PG_VERSION").is_file()  # --data-dir kept
