"""The embedded stack over TLS: a throwaway CA, HTTPS/WSS through the same proxies and links.

The backend serves TLS behind Toxiproxy (and the L3 relays where this machine has them),
so every byte of the handshake crosses the fault path. A client that trusts the stack's
``ca_file`` registers a node and posts a detection through the ingest proxy; one that
does not is stopped by the preflight with one line naming the unknown CA.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import websockets

from chaos.stack import Stack, StackOptions
from simulator._http import HttpPool
from simulator.payloads import make_detection, payload_bytes
from simulator.protocol import DETECTIONS_PATH, REGISTER_PATH, stream_url
from simulator.tls import (
    TlsOptions,
    TlsPreflightError,
    client_context,
    preflight,
    websockets_ssl_kwargs,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def tls_stack() -> Iterator[Stack]:
    lines: list[str] = []
    with Stack(StackOptions(tls=True, echo=lines.append)) as stack:
        assert any(line.startswith("tls: throwaway CA") for line in lines), lines
        yield stack
    assert stack.ca_file is not None and not stack.ca_file.exists()  # removed on close


def test_urls_are_https_and_the_ca_is_exposed(tls_stack: Stack) -> None:
    assert tls_stack.ca_file is not None and tls_stack.ca_file.is_file()
    for url in (tls_stack.backend_url, tls_stack.ingest_url, tls_stack.stream_url,
                tls_stack.proxy_urls["ingest"], tls_stack.proxy_urls["stream"]):
        assert url.startswith("https://"), url
    assert tls_stack.describe()["TLS CA file (--ca-file)"] == str(tls_stack.ca_file)


async def test_a_node_registers_and_posts_through_the_ingest_proxy(tls_stack: Stack) -> None:
    ctx = client_context(TlsOptions(ca_file=tls_stack.ca_file), tls_stack.ingest_url)
    assert ctx is not None
    pool = HttpPool(tls_stack.ingest_url, size=2, ssl_context=ctx)
    node_id = f"tls-{time.monotonic_ns()}"
    try:
        assert pool.is_tls
        reg = await pool.request(
            "POST", REGISTER_PATH,
            body=orjson.dumps({"node_id": node_id, "name": "tls node", "model": "yolov8n"}),
            headers={"Authorization": f"Bearer {tls_stack.enrollment_key}",
                     "Content-Type": "application/json"})
        assert reg.status in (200, 201), reg.text
        token = reg.json()["token"]
        body = payload_bytes(make_detection(node_id, 1, time.time()))
        sent = await pool.request("POST", DETECTIONS_PATH, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert sent.status == 201, sent.text
        again = await pool.request("POST", DETECTIONS_PATH, body=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert again.status == 200  # the resend over TLS is still a duplicate
    finally:
        await pool.aclose()


async def test_the_stream_speaks_wss_and_its_hello_carries_server_time(
        tls_stack: Stack) -> None:
    url = stream_url(tls_stack.stream_url, None, tls_stack.viewer_token)
    assert url.startswith("wss://")
    ctx = client_context(TlsOptions(ca_file=tls_stack.ca_file), url)
    before = time.time()
    async with websockets.connect(url, open_timeout=10, **websockets_ssl_kwargs(url, ctx)) as ws:
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
    after = time.time()
    assert hello["type"] == "hello"
    from simulator.clock_offset import ClockSample, estimate_offset, parse_server_time

    sample = ClockSample(before, parse_server_time(hello["server_time"]), after)
    est = estimate_offset([sample])
    assert abs(est.offset_s) <= est.uncertainty_s + 0.001  # one machine, one clock


def test_preflight_without_the_ca_names_the_unknown_ca(tls_stack: Stack) -> None:
    with pytest.raises(TlsPreflightError) as info:
        preflight(tls_stack.ingest_url, TlsOptions(), timeout=5.0)
    line = str(info.value)
    assert "\n" not in line
    assert "unknown CA" in line and "--ca-file" in line, line
    preflight(tls_stack.ingest_url, TlsOptions(ca_file=tls_stack.ca_file), timeout=5.0)


def test_serve_refuses_unusable_tls_options_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sentinel-backend serve --ssl-*``: a bad combination or a key that does not match
    the certificate is one line and exit 2, before any database is started."""
    from chaos.tls_ca import write_pki
    from sentinel_backend.cli import main

    pki = write_pki(tmp_path / "pki")
    cases = {
        "need --ssl-certfile": ["--ssl-keyfile", str(pki.server.key)],
        "needs --ssl-ca-certs": ["--ssl-certfile", str(pki.server.cert), "--ssl-keyfile",
                                 str(pki.server.key), "--ssl-require-client-cert"],
        "unusable": ["--ssl-certfile", str(pki.server.cert), "--ssl-keyfile",
                     str(pki.client.key)],
    }
    for expected, flags in cases.items():
        assert main(["serve", "--ephemeral", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and expected in err, err
        assert err.startswith("sentinel-backend: error:"), err
