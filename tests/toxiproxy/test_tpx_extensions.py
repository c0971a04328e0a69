"""The extension toxics, http_error and handshake_delay, through real sockets and clients.

Timings have tight lower bounds (never faster than configured) and loose upper bounds.
"""

from __future__ import annotations

import asyncio
import http.client
import time

import httpx
import pytest
import toxiproxy
from tpx_helpers import Handler, Upstreams, connect, echo, recv_all, recv_exactly, source

from chaos.toxiproxy import EmbeddedToxiproxy, ToxiproxyControl


class HttpUpstream:
    """An HTTP/1.1 keep-alive server answering ``<method> <path> <body length>``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = b""
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    while (size := int((await reader.readuntil(b"\r\n")).strip(), 16)) > 0:
                        body += await reader.readexactly(size)
                        await reader.readexactly(2)
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append((method, path, body))
                answer = f"{method} {path} {len(body)}".encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer))
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


@pytest.fixture
def web(upstreams: Upstreams) -> tuple[HttpUpstream, str]:
    server = HttpUpstream()
    handler: Handler = server.handle
    return server, upstreams.add(handler)


def _http(listen: str) -> http.client.HTTPConnection:
    host, _, port = listen.rpartition(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def test_http_error_answers_every_request_on_a_keep_alive_connection(
    control: ToxiproxyControl, web: tuple[HttpUpstream, str]
) -> None:
    server, upstream = web
    proxy = control.create_proxy("web", upstream)
    control.add_toxic(
        "web", "http_error", {"status": 503, "retry_after": 7, "body": "busy"}, "upstream"
    )
    conn = _http(proxy.listen)
    for index in range(3):
        conn.request("POST", f"/r{index}", body=b"x" * 100)
        response = conn.getresponse()
        assert response.status == 503 and response.reason == "Service Unavailable"
        assert response.getheader("Retry-After") == "7"
        assert response.read() == b"busy"
    conn.request("POST", "/chunked", body=iter([b"ab", b"cdef"]))  # chunked framing
    response = conn.getresponse()
    assert response.status == 503
    response.read()
    conn.close()
    assert server.seen == []  # nothing reached the upstream


def test_http_error_toxicity_is_per_request_and_keeps_boundaries(
    control: ToxiproxyControl, web: tuple[HttpUpstream, str]
) -> None:
    server, upstream = web
    proxy = control.create_proxy("web", upstream)
    control.add_toxic("web", "http_error", {"status": 429}, "upstream", toxicity=0.5)
    conn = _http(proxy.listen)
    failed = 0
    for index in range(200):
        if index % 3 == 0:
            conn.request("POST", f"/c{index}", body=iter([b"a" * index, b"b" * 7]))
            size = index + 7
        else:
            conn.request("PUT", f"/l{index}", body=b"z" * index)
            size = index
        response = conn.getresponse()
        body = response.read()
        if response.status == 429:
            failed += 1
            assert body == b"Too Many Requests\n" and response.getheader("Retry-After") is None
        else:
            assert response.status == 200
            path = f"/{'c' if index % 3 == 0 else 'l'}{index}"
            assert body.decode().split(" ")[1:] == [path, str(size)]
    conn.close()
    assert 60 <= failed <= 140, failed  # about half, rolled per request on one connection
    assert len(server.seen) == 200 - failed
    for _, path, body in server.seen:  # every forwarded body arrived whole
        assert len(body) == int(path[2:]) + (7 if path[1] == "c" else 0), path


def test_http_error_connection_close_and_head(
    control: ToxiproxyControl, web: tuple[HttpUpstream, str]
) -> None:
    _, upstream = web
    proxy = control.create_proxy("web", upstream)
    control.add_toxic("web", "http_error", {"status": 500, "body": "boom"}, "upstream")
    sock = connect(proxy.listen)
    sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"Content-Length: 4\r\n" in head  # the length of the body a GET would get
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rest = recv_all(sock)  # answered, then the proxy closes the connection
    sock.close()
    assert rest.startswith(b"HTTP/1.1 500 ") and rest.endswith(b"\r\n\r\nboom")
    assert b"Connection: close\r\n" in rest


def test_http_error_with_a_standard_client(
    control: ToxiproxyControl, client: toxiproxy.Toxiproxy, web: tuple[HttpUpstream, str]
) -> None:
    _, upstream = web
    proxy = client.create(upstream=upstream, name="web")
    proxy.add_toxic(
        type="http_error", stream="upstream", attributes={"status": 503, "retry_after": 2}
    )
    toxic = proxy.toxics()["http_error_upstream"]
    assert toxic.attributes == {"status": 503, "retry_after": 2, "body": ""}
    answer = httpx.get(f"http://{proxy.listen}/health", timeout=10)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "2"
    proxy.destroy_toxic("http_error_upstream")
    assert httpx.get(f"http://{proxy.listen}/health", timeout=10).text == "GET /health 0"


def test_http_error_checks_its_attributes_and_stream(
    embedded: EmbeddedToxiproxy, control: ToxiproxyControl, web: tuple[HttpUpstream, str]
) -> None:
    _, upstream = web
    control.create_proxy("web", upstream)
    raw = httpx.Client(base_url=embedded.url, timeout=10)
    down = raw.post("/proxies/web/toxics", json={"type": "http_error", "stream": "downstream"})
    assert down.status_code == 400 and "upstream stream only" in down.json()["error"]
    bad = raw.post("/proxies/web/toxics", json={"type": "http_error", "attributes": {"status": 99}})
    assert bad.status_code == 400
    text = raw.post("/proxies/web/toxics", json={"type": "http_error", "attributes": {"body": 5}})
    assert text.status_code == 400
    default = raw.post("/proxies/web/toxics", json={"type": "http_error"})
    assert default.status_code == 200 and default.json()["stream"] == "upstream"


def test_http_error_passes_non_http_bytes(control: ToxiproxyControl, upstreams: Upstreams) -> None:
    proxy = control.create_proxy("p", upstreams.add(echo))
    control.add_toxic("p", "http_error", {}, "upstream")
    sock = connect(proxy.listen)
    payload = b"\x16\x03\x01 not http at all\r\n\r\n"  # a TLS-like first byte
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    sock.close()


def test_handshake_delay_holds_new_connections_only(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    greeter = control.create_proxy("greet", upstreams.add(source(b"hello")))
    proxy = control.create_proxy("p", upstreams.add(echo))
    before = connect(proxy.listen)
    control.add_toxic("p", "handshake_delay", {"delay": 300})
    control.add_toxic("greet", "handshake_delay", {"delay": 300}, "upstream")

    start = time.perf_counter()
    sock = connect(proxy.listen)
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"
    held = time.perf_counter() - start
    start = time.perf_counter()
    sock.sendall(b"pong")
    assert recv_exactly(sock, 4) == b"pong"
    after = time.perf_counter() - start
    sock.close()
    assert 0.3 <= held <= 3.0, held
    assert after < 0.25, after  # only the start of a connection is held

    start = time.perf_counter()
    before.sendall(b"old")
    assert recv_exactly(before, 3) == b"old"
    assert time.perf_counter() - start < 0.25  # connections already open are not touched
    before.close()

    start = time.perf_counter()
    greeted = connect(greeter.listen)
    assert recv_exactly(greeted, 5) == b"hello"  # a server-speaks-first greeting waits too
    assert 0.3 <= time.perf_counter() - start <= 3.0
    greeted.close()
