"""The HTTP API, raw: status codes, JSON shapes and defaults as Toxiproxy's api.go answers."""

from __future__ import annotations

import socket

import httpx
import pytest
from tpx_helpers import Upstreams, connect, echo

from chaos.toxiproxy import EmbeddedToxiproxy, ToxiproxyControl


@pytest.fixture
def http(embedded: EmbeddedToxiproxy, control: ToxiproxyControl) -> httpx.Client:
    return httpx.Client(base_url=embedded.url, timeout=10)


@pytest.fixture
def echo_up(upstreams: Upstreams) -> str:
    return upstreams.add(echo)


def test_version(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")


def test_create_proxy_shape_and_free_port(http: httpx.Client, echo_up: str) -> None:
    response = http.post(
        "/proxies", json={"name": "p", "upstream": echo_up, "listen": "127.0.0.1:0"}
    )
    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["name", "listen", "upstream", "enabled", "toxics"]
    assert body["name"] == "p" and body["upstream"] == echo_up and body["enabled"] is True
    assert body["toxics"] == []
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert http.get("/proxies").json() == {"p": body}
    assert http.get("/proxies/p").json() == body


def test_create_errors(http: httpx.Client, echo_up: str) -> None:
    assert http.post("/proxies", json={"name": "p", "upstream": echo_up}).status_code == 201
    dup = http.post("/proxies", json={"name": "p", "upstream": echo_up})
    assert dup.status_code == 409
    assert dup.json() == {"error": "proxy already exists", "status": 409}
    missing = http.post("/proxies", json={"upstream": echo_up})
    assert missing.status_code == 400
    assert missing.json() == {"error": "missing required field: name", "status": 400}
    assert http.post("/proxies", json={"name": "q"}).json()["error"] == (
        "missing required field: upstream"
    )
    assert http.post("/proxies", content=b"{nope").status_code == 400


def test_unknown_proxy_is_404(http: httpx.Client) -> None:
    for method, path in [
        ("GET", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/t"),
        ("DELETE", "/proxies/nope/toxics/t"),
    ]:
        response = http.request(method, path, json={"enabled": True} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"error": "proxy not found", "status": 404}


def test_delete_proxy_is_204_and_stops_listening(http: httpx.Client, echo_up: str) -> None:
    listen = http.post("/proxies", json={"name": "p", "upstream": echo_up}).json()["listen"]
    response = http.delete("/proxies/p")
    assert response.status_code == 204 and response.content == b""
    with pytest.raises(OSError):
        connect(listen, timeout=2).recv(1)


def test_toxic_defaults_and_codes(http: httpx.Client, echo_up: str) -> None:
    http.post("/proxies", json={"name": "p", "upstream": echo_up})
    created = http.post("/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5}})
    assert created.status_code == 200  # Toxiproxy answers 200, not 201, for a toxic
    assert created.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 5, "jitter": 0},
    }
    dup = http.post("/proxies/p/toxics", json={"type": "latency"})
    assert dup.status_code == 409 and dup.json()["error"] == "toxic already exists"
    bad_type = http.post("/proxies/p/toxics", json={"type": "nope"})
    assert bad_type.status_code == 400 and bad_type.json()["error"] == "invalid toxic type"
    bad_stream = http.post("/proxies/p/toxics", json={"type": "latency", "stream": "sideways"})
    assert bad_stream.status_code == 400
    assert bad_stream.json()["error"].startswith("stream was invalid")
    bad_attr = http.post(
        "/proxies/p/toxics", json={"type": "bandwidth", "attributes": {"rate": "fast"}}
    )
    assert bad_attr.status_code == 400 and bad_attr.json()["error"].startswith("bad request body")
    up = http.post(
        "/proxies/p/toxics",
        json={
            "type": "bandwidth",
            "stream": "upstream",
            "toxicity": 0.5,
            "attributes": {"rate": 9},
        },
    ).json()
    assert up["name"] == "bandwidth_upstream" and up["toxicity"] == 0.5
    # upstream toxics are listed before downstream ones, as in Toxiproxy
    names = [t["name"] for t in http.get("/proxies/p/toxics").json()]
    assert names == ["bandwidth_upstream", "latency_downstream"]
    assert http.get("/proxies/p/toxics/latency_downstream").json()["attributes"]["latency"] == 5
    missing = http.get("/proxies/p/toxics/nope")
    assert missing.status_code == 404 and missing.json() == {
        "error": "toxic not found",
        "status": 404,
    }


def test_toxic_update_merges_and_delete(http: httpx.Client, echo_up: str) -> None:
    http.post("/proxies", json={"name": "p", "upstream": echo_up})
    http.post(
        "/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 5, "jitter": 1}}
    )
    updated = http.post("/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": 7}})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 7, "jitter": 1}
    patched = http.patch("/proxies/p/toxics/latency_downstream", json={"toxicity": 0.25})
    assert patched.json()["toxicity"] == 0.25 and patched.json()["attributes"]["latency"] == 7
    assert http.post("/proxies/p/toxics/nope", json={}).status_code == 404
    assert http.delete("/proxies/p/toxics/latency_downstream").status_code == 204
    assert http.delete("/proxies/p/toxics/latency_downstream").status_code == 404
    assert http.get("/proxies/p").json()["toxics"] == []


def test_update_proxy_enable_disable_and_listen(http: httpx.Client, echo_up: str) -> None:
    listen = http.post("/proxies", json={"name": "p", "upstream": echo_up}).json()["listen"]
    live = connect(listen)
    live.sendall(b"ping")
    assert live.recv(4) == b"ping"
    disabled = http.post("/proxies/p", json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    live.settimeout(5)
    assert live.recv(10) == b""  # the live connection was dropped
    live.close()
    with pytest.raises(OSError):
        connect(listen, timeout=2)
    assert http.post("/proxies/p", json={"enabled": True}).json()["enabled"] is True
    again = connect(listen)
    again.sendall(b"pong")
    assert again.recv(4) == b"pong"
    moved = http.post("/proxies/p", json={"listen": "127.0.0.1:0"}).json()
    assert moved["listen"] != listen and moved["enabled"] is True
    again.settimeout(5)
    assert again.recv(10) == b""  # changing listen restarts the listener, drops connections
    again.close()
    third = connect(moved["listen"])
    third.sendall(b"x")
    assert third.recv(1) == b"x"
    third.close()


def test_populate_create_keep_replace(
    http: httpx.Client, echo_up: str, upstreams: Upstreams
) -> None:
    other = upstreams.add(echo)
    first = http.post(
        "/populate", json=[{"name": "a", "upstream": echo_up, "listen": "127.0.0.1:0"}]
    )
    assert first.status_code == 201
    (proxy_a,) = first.json()["proxies"]
    same = http.post(
        "/populate", json=[{"name": "a", "upstream": echo_up, "listen": proxy_a["listen"]}]
    )
    assert same.status_code == 201 and same.json()["proxies"][0]["listen"] == proxy_a["listen"]
    replaced = http.post(
        "/populate", json=[{"name": "a", "upstream": other, "listen": "127.0.0.1:0"}]
    )
    assert replaced.json()["proxies"][0]["upstream"] == other
    bad = http.post("/populate", json=[{"name": "b"}])
    assert bad.status_code == 400 and bad.json()["status"] == 400 and "proxies" in bad.json()


def test_reset_enables_and_clears(http: httpx.Client, echo_up: str) -> None:
    http.post("/proxies", json={"name": "p", "upstream": echo_up})
    http.post("/proxies/p/toxics", json={"type": "timeout"})
    http.post("/proxies/p", json={"enabled": False})
    response = http.post("/reset")
    assert response.status_code == 204
    body = http.get("/proxies/p").json()
    assert body["enabled"] is True and body["toxics"] == []


def test_metrics_and_unknown_routes(http: httpx.Client, echo_up: str) -> None:
    listen = http.post("/proxies", json={"name": "p", "upstream": echo_up}).json()["listen"]
    sock = connect(listen)
    sock.sendall(b"12345")
    assert sock.recv(5) == b"12345"
    sock.close()
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert 'toxiproxy_proxy_received_bytes_total{direction="upstream"' in metrics.text
    assert http.get("/nope").status_code == 404
    assert http.put("/proxies").status_code == 405
    assert http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"}).status_code == 403


def test_listen_in_use_is_an_error(http: httpx.Client, echo_up: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = http.post(
            "/proxies", json={"name": "p", "upstream": echo_up, "listen": f"127.0.0.1:{port}"}
        )
    assert response.status_code == 500 and response.json()["status"] == 500
    assert http.get("/proxies").json() == {}


def test_unreachable_upstream_closes_the_client(http: httpx.Client) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"  # nothing listens there
    listen = http.post("/proxies", json={"name": "p", "upstream": dead}).json()["listen"]
    sock = connect(listen, timeout=5)
    try:
        assert sock.recv(10) == b""
    except ConnectionResetError:
        pass
    finally:
        sock.close()


def test_chunked_and_expect_continue_bodies(embedded: EmbeddedToxiproxy, echo_up: str) -> None:
    import json

    body = json.dumps({"name": "c", "upstream": echo_up}).encode()
    host, port = embedded.url.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        head = (
            "POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 201 Created")
    assert httpx.delete(f"{embedded.url}/proxies/c").status_code == 204
