"""Locust over TLS against the embedded stack started with ``tls=True``.

The edge users' HTTP, the dashboards' ``wss://`` and the gate's reads all verify the
stack's throwaway CA (``--ca-file``); the fault timeline (``tls-smoke``) plays through
Toxiproxy, which only sees TCP, so handshakes cross the latency and the cuts. Without
the CA the run must not start: one line naming the unknown CA, exit status 2.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lt_locust import run_locust

from chaos.stack import Stack, StackOptions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        importlib.util.find_spec("locust") is None or importlib.util.find_spec("websocket") is None,
        reason="Locust runs need the 'load' extra: pip install -e '.[dev,load]'",
    ),
]


@pytest.fixture(scope="module")
def tls_stack() -> Iterator[Stack]:
    with Stack(StackOptions(tls=True)) as stack:
        yield stack


def _env(stack: Stack, *, trust: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SSL_CERT_FILE", "SSL_CERT_DIR", "SENTINEL_CA_FILE")}
    env.update({
        "SENTINEL_ENROLLMENT_KEY": stack.enrollment_key,
        "SENTINEL_VIEWER_TOKEN": stack.viewer_token,
        "SENTINEL_OPERATOR_TOKEN": stack.operator_token,
        "SENTINEL_API_URL": stack.backend_url,
        "SENTINEL_STREAM_URL": stack.stream_url,
        "TOXIPROXY_URL": stack.toxiproxy_url,
    })
    if trust:
        assert stack.ca_file is not None
        env["SENTINEL_CA_FILE"] = str(stack.ca_file)
    return env


def _args(stack: Stack, users: int, run_time: str) -> list[str]:
    return ["--headless", "-u", str(users), "-r", str(users), "-t", run_time,
            "--host", stack.ingest_url, "--dashboards", "2", "--loglevel", "INFO"]


def test_a_tls_run_with_the_stacks_ca_passes_its_gate(tls_stack: Stack, tmp_path: Path) -> None:
    assert tls_stack.ingest_url.startswith("https://")
    report = tmp_path / "gate.json"
    args = [*_args(tls_stack, 4, "20s"), "--scenario", "tls-smoke", "--gate-report", str(report)]
    done = run_locust(args, _env(tls_stack, trust=True), tmp_path / "locust.log", timeout=150)
    assert done.returncode == 0, done.output[-6000:]
    assert "sentinel gate: PASS" in done.output
    assert "TLS preflight failed" not in done.output
    gate = json.loads(report.read_text())
    figures = gate["figures"]
    assert figures["acked"] > 0 and figures["lost"] == 0
    assert figures["generated"] == figures["stored"]
    assert figures["faults"]["applied"] == 3
    assert all(slo["passed"] for slo in gate["slos"]), gate["slos"]


def test_without_the_ca_the_run_stops_at_once_with_one_line(tls_stack: Stack,
                                                            tmp_path: Path) -> None:
    args = [*_args(tls_stack, 2, "10s"), "--scenario", "tls-smoke"]
    done = run_locust(args, _env(tls_stack, trust=False), tmp_path / "locust.log", timeout=60)
    assert done.returncode == 2, done.output[-4000:]
    lines = [line for line in done.output.splitlines() if "TLS preflight failed" in line]
    assert len(lines) == 1, done.output[-4000:]
    assert f"for {tls_stack.ingest_url}" in lines[0]
    assert "unknown CA" in lines[0] and "--ca-file" in lines[0], lines[0]
    assert "Traceback" not in done.output
    assert "sentinel gate" not in done.output  # it never started, so nothing was judged
