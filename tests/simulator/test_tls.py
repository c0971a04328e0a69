"""The fleet's HTTP pool over real TLS on loopback, and the certificate preflight.

Every server here is a real TLS server on 127.0.0.1 (``simulator._loopback_server``)
with certificates from a throwaway CA (``chaos.tls_ca``): nothing is mocked.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import stat
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from chaos.tls_ca import CertFiles, Pki, throwaway_pki
from simulator._http import HttpError, HttpPool
from simulator._loopback_server import LoopbackServer, server_context, start_loopback_server
from simulator.tls import (
    INSECURE_WARNING,
    TlsConfigError,
    TlsOptions,
    TlsPreflightError,
    client_context,
    httpx_verify,
    preflight,
    websockets_ssl_kwargs,
)


@pytest.fixture(scope="module")
def pki() -> Iterator[Pki]:
    with throwaway_pki() as p:
        yield p


async def _serve(files: CertFiles, client_ca: str | None = None) -> LoopbackServer:
    from pathlib import Path

    ctx = server_context(files.cert, files.key, Path(client_ca) if client_ca else None)
    return await start_loopback_server(ctx)


@pytest_asyncio.fixture(loop_scope="function")  # the test's own loop serves it
async def server(pki: Pki) -> AsyncIterator[LoopbackServer]:
    srv = await _serve(pki.server)
    yield srv
    await srv.aclose()


async def _preflight_error(url: str, opts: TlsOptions) -> str:
    """The preflight is blocking (it runs before a fleet starts): off the loop that serves."""
    with pytest.raises(TlsPreflightError) as info:
        await asyncio.to_thread(preflight, url, opts, 5.0)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _ctx(opts: TlsOptions) -> ssl.SSLContext:
    ctx = client_context(opts)
    assert ctx is not None
    return ctx


async def test_get_and_post_over_https_with_a_private_ca(
    pki: Pki, server: LoopbackServer
) -> None:
    pool = HttpPool(server.url, size=4, ssl_context=_ctx(TlsOptions(ca_file=pki.ca_cert)))
    try:
        assert pool.is_tls
        got = await pool.request("GET", "/health/live")
        assert (got.status, got.json()["method"], got.json()["path"]) == (
            200, "GET", "/health/live")
        sent = await pool.request("POST", "/api/detections", body=b'{"a": 1}',
                                  headers={"Content-Type": "application/json"})
        assert sent.json() == {"method": "POST", "path": "/api/detections", "body": '{"a": 1}'}
    finally:
        await pool.aclose()


async def test_keep_alive_uses_one_tls_connection(pki: Pki, server: LoopbackServer) -> None:
    pool = HttpPool(server.url, size=4, ssl_context=_ctx(TlsOptions(ca_file=pki.ca_cert)))
    try:
        for i in range(20):
            assert (await pool.request("GET", f"/n/{i}")).status == 200
    finally:
        await pool.aclose()
    assert pool.connections_opened == 1
    assert (server.stats.connections, server.stats.requests) == (1, 20)


async def test_new_connections_resume_the_pools_last_session(
    pki: Pki, server: LoopbackServer
) -> None:
    pool = HttpPool(server.url, size=4, ssl_context=_ctx(TlsOptions(ca_file=pki.ca_cert)))
    try:
        await pool.request("GET", "/first")  # full handshake; the session is kept
        assert pool.last_session is not None
        # Two at once: one takes the idle connection, the other opens a new one.
        await asyncio.gather(pool.request("GET", "/a"), pool.request("GET", "/b"))
    finally:
        await pool.aclose()
    assert pool.connections_opened == 2
    assert pool.tls_resumed == 1
    assert server.stats.tls_resumed == 1  # the server agrees: an abbreviated handshake


async def test_mutual_tls_works_with_a_client_certificate(pki: Pki) -> None:
    srv = await _serve(pki.server, client_ca=str(pki.ca_cert))
    opts = TlsOptions(ca_file=pki.ca_cert, client_cert=pki.client.cert,
                      client_key=pki.client.key)
    pool = HttpPool(srv.url, ssl_context=_ctx(opts))
    try:
        assert (await pool.request("GET", "/")).status == 200
        await asyncio.to_thread(preflight, srv.url, opts, 5.0)
    finally:
        await pool.aclose()
        await srv.aclose()
    assert srv.stats.peer_certs >= 1


async def test_mutual_tls_fails_without_a_client_certificate(pki: Pki) -> None:
    srv = await _serve(pki.server, client_ca=str(pki.ca_cert))
    opts = TlsOptions(ca_file=pki.ca_cert)
    pool = HttpPool(srv.url, ssl_context=_ctx(opts))
    try:
        with pytest.raises(HttpError):
            await pool.request("GET", "/")
        message = await _preflight_error(srv.url, opts)
    finally:
        await pool.aclose()
        await srv.aclose()
    assert "client certificate required" in message
    assert srv.stats.requests == 0


async def test_preflight_names_an_unknown_ca(server: LoopbackServer) -> None:
    message = await _preflight_error(server.url, TlsOptions())
    assert "unknown CA (self-signed or private CA: pass --ca-file)" in message
    assert "sentinel-chaos throwaway CA" in message


async def test_pool_names_an_unknown_ca(server: LoopbackServer) -> None:
    pool = HttpPool(server.url, ssl_context=_ctx(TlsOptions()))
    try:
        with pytest.raises(HttpError, match="unknown CA"):
            await pool.request("GET", "/")
    finally:
        await pool.aclose()


async def test_preflight_names_a_hostname_mismatch(pki: Pki) -> None:
    srv = await _serve(pki.wrong_host_server)
    try:
        message = await _preflight_error(srv.url, TlsOptions(ca_file=pki.ca_cert))
    finally:
        await srv.aclose()
    assert "hostname mismatch: certificate is for wrong.invalid, not 127.0.0.1" in message


async def test_preflight_names_an_expired_certificate(pki: Pki) -> None:
    srv = await _serve(pki.expired_server)
    try:
        message = await _preflight_error(srv.url, TlsOptions(ca_file=pki.ca_cert))
    finally:
        await srv.aclose()
    assert "certificate has expired (valid until " in message


async def test_preflight_passes_for_a_good_server(pki: Pki, server: LoopbackServer) -> None:
    await asyncio.to_thread(preflight, server.url, TlsOptions(ca_file=pki.ca_cert), 5.0)
    assert server.stats.connections == 1


async def test_preflight_names_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    message = await _preflight_error(f"https://127.0.0.1:{port}", TlsOptions())
    assert "connection refused" in message


async def test_preflight_names_a_plain_http_server_behind_an_https_url() -> None:
    srv = await start_loopback_server(None)
    try:
        message = await _preflight_error(f"https://127.0.0.1:{srv.port}", TlsOptions())
    finally:
        await srv.aclose()
    assert "does not speak TLS" in message


async def test_insecure_connects_to_an_unknown_ca_and_says_so(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="simulator.tls"):
        ctx = _ctx(TlsOptions(insecure=True))
    assert INSECURE_WARNING in caplog.text
    pool = HttpPool(server.url, ssl_context=ctx)
    try:
        assert (await pool.request("GET", "/")).status == 200
    finally:
        await pool.aclose()
    await asyncio.to_thread(preflight, server.url, TlsOptions(insecure=True), 5.0)


async def test_ssl_cert_file_is_honoured(
    pki: Pki, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_cert))
    await asyncio.to_thread(preflight, server.url, TlsOptions(), 5.0)
    pool = HttpPool(server.url)  # default context: the default verify paths
    try:
        assert (await pool.request("GET", "/")).status == 200
    finally:
        await pool.aclose()


async def test_httpx_and_websockets_take_the_same_context(
    pki: Pki, server: LoopbackServer
) -> None:
    ctx = _ctx(TlsOptions(ca_file=pki.ca_cert))
    async with httpx.AsyncClient(verify=httpx_verify(ctx)) as client:
        assert (await client.get(server.url + "/evidence")).json()["path"] == "/evidence"
    assert websockets_ssl_kwargs("wss://127.0.0.1/ws", ctx) == {"ssl": ctx}
    assert websockets_ssl_kwargs("ws://127.0.0.1/ws", ctx) == {}
    assert client_context(TlsOptions(), "http://127.0.0.1:8000") is None


async def test_plain_http_is_unchanged() -> None:
    srv = await start_loopback_server(None)
    pool = HttpPool(srv.url)
    try:
        assert not pool.is_tls
        assert (await pool.request("GET", "/p")).json()["path"] == "/p"
    finally:
        await pool.aclose()
        await srv.aclose()
    with pytest.raises(ValueError, match="only http:// and https://"):
        HttpPool("ftp://127.0.0.1/")


def test_unusable_tls_options_are_one_line_errors(pki: Pki) -> None:
    with pytest.raises(TlsConfigError, match=r"CA file .*missing\.pem"):
        client_context(TlsOptions(ca_file=pki.directory / "missing.pem"))
    with pytest.raises(TlsConfigError, match="client certificate"):
        client_context(TlsOptions(client_cert=pki.ca_cert))  # a certificate, no key


def test_throwaway_ca_keys_are_private(pki: Pki) -> None:
    for files in (pki.server, pki.client, pki.expired_server, pki.wrong_host_server):
        assert stat.S_IMODE(files.key.stat().st_mode) == 0o600, files.key
        assert files.cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
