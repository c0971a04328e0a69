"""Where upstream Toxiproxy's API behaviour and ours used to differ, each pinned by a test.

The expectations are the Go server's (``api.go``, ``proxy_collection.go``,
``toxic_collection.go``, Go's ``http.Error`` and ``net.Listen``), not our own choices.
"""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest
import toxiproxy
from tpx_helpers import Upstreams, connect, echo, recv_exactly

from chaos.toxiproxy import EmbeddedToxiproxy, ToxiproxyControl

XID = re.compile(r"[0-9a-v]{20}")


@pytest.fixture
def http(embedded: EmbeddedToxiproxy, control: ToxiproxyControl) -> httpx.Client:
    return httpx.Client(base_url=embedded.url, timeout=10)


@pytest.fixture
def echo_up(upstreams: Upstreams) -> str:
    return upstreams.add(echo)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_response_has_a_request_id(http: httpx.Client, echo_up: str) -> None:
    answers = [
        http.get("/version"),
        http.post("/proxies", json={"name": "p", "upstream": echo_up}),
        http.get("/proxies/nope"),
        http.delete("/proxies/p"),
        http.get("/nope"),
        http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"}),
    ]
    ids = [a.headers.get("X-Toxiproxy-Request-Id", "") for a in answers]
    assert all(XID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)  # one per request


def test_error_body_is_go_http_error(http: httpx.Client) -> None:
    response = http.get("/proxies/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == b'{"error":"proxy not found","status":404}\n'
    assert response.json() == {"error": "proxy not found", "status": 404}


def test_populate_by_hostname_keeps_the_proxy_and_its_toxics(
    http: httpx.Client, echo_up: str
) -> None:
    port = _free_port()
    spec = [{"name": "db", "upstream": echo_up, "listen": f"localhost:{port}"}]
    first = http.post("/populate", json=spec)
    assert first.status_code == 201
    assert first.json()["proxies"][0]["listen"] == f"127.0.0.1:{port}"
    http.post("/proxies/db/toxics", json={"type": "latency", "attributes": {"latency": 1}})
    live = connect(f"127.0.0.1:{port}")
    live.sendall(b"ping")
    assert recv_exactly(live, 4) == b"ping"

    again = http.post("/populate", json=spec)
    assert again.status_code == 201
    (proxy,) = again.json()["proxies"]
    assert [t["name"] for t in proxy["toxics"]] == ["latency_downstream"]
    assert http.get("/proxies/db").json()["toxics"][0]["attributes"]["latency"] == 1
    live.sendall(b"pong")  # the live connection survived too
    assert recv_exactly(live, 4) == b"pong"
    live.close()


def test_noop_toxic_type(http: httpx.Client, echo_up: str) -> None:
    listen = http.post("/proxies", json={"name": "p", "upstream": echo_up}).json()["listen"]
    created = http.post("/proxies/p/toxics", json={"type": "noop"})
    assert created.status_code == 200
    assert created.json() == {
        "name": "noop_downstream",
        "type": "noop",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {},
    }
    sock = connect(listen)
    sock.sendall(b"through")
    assert recv_exactly(sock, 7) == b"through"
    sock.close()


def test_empty_stream_is_invalid_but_missing_or_null_is_downstream(
    http: httpx.Client, echo_up: str
) -> None:
    http.post("/proxies", json={"name": "p", "upstream": echo_up})
    empty = http.post("/proxies/p/toxics", json={"type": "latency", "stream": ""})
    assert empty.status_code == 400
    assert empty.json() == {
        "error": "stream was invalid, can be either upstream or downstream",
        "status": 400,
    }
    assert http.get("/proxies/p/toxics").json() == []
    null = http.post("/proxies/p/toxics", json={"type": "latency", "stream": None})
    assert null.json()["stream"] == "downstream"
    upper = http.post("/proxies/p/toxics", json={"type": "slicer", "stream": "UPSTREAM"})
    assert upper.status_code == 200 and upper.json()["stream"] == "upstream"


def test_bind_conflict_is_gos_error_text(http: httpx.Client, echo_up: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = http.post(
            "/proxies", json={"name": "p", "upstream": echo_up, "listen": f"localhost:{port}"}
        )
    assert response.status_code == 500
    assert response.json() == {
        "error": f"listen tcp 127.0.0.1:{port}: bind: address already in use",
        "status": 500,
    }


def test_populate_rejects_duplicate_names(http: httpx.Client, echo_up: str) -> None:
    spec = {"name": "twice", "upstream": echo_up}
    response = http.post("/populate", json=[spec, spec])
    assert response.status_code == 500
    assert response.json()["error"] == 'duplicate proxy name "twice"'
    assert http.get("/proxies").json() == {}


def test_toxiproxy_python_reads_the_go_shaped_answers(
    client: toxiproxy.Toxiproxy, upstreams: Upstreams
) -> None:
    from toxiproxy.exceptions import InvalidToxic, ProxyExists

    proxy = client.create(upstream=upstreams.add(echo), name="p")
    proxy.add_toxic(type="noop", name="n")
    assert set(proxy.toxics()) == {"n"}
    with pytest.raises(ProxyExists):  # a 409 with the plain-text JSON error body
        proxy.add_toxic(type="noop", name="n")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="")
    assert json.loads(client.version())["version"].startswith("2.")
