"""The embedded server driven by toxiproxy-python, the real client, unchanged."""

from __future__ import annotations

import pytest
import toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from tpx_helpers import Upstreams, connect, echo


def test_client_lifecycle(client: toxiproxy.Toxiproxy, upstreams: Upstreams) -> None:
    upstream = upstreams.add(echo)
    assert client.running()
    assert b"version" in client.version()
    proxy = client.create(upstream=upstream, name="redis")
    assert proxy.enabled is True and proxy.listen.startswith("127.0.0.1:")
    with pytest.raises(ProxyExists):
        client.create(upstream=upstream, name="redis")
    assert set(client.proxies()) == {"redis"}

    proxy.add_toxic(type="latency", attributes={"latency": 10, "jitter": 2})
    proxy.add_toxic(type="bandwidth", stream="upstream", attributes={"rate": 100})
    toxics = proxy.toxics()
    assert set(toxics) == {"latency_downstream", "bandwidth_upstream"}
    assert toxics["latency_downstream"].attributes == {"latency": 10, "jitter": 2}
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency")
    assert proxy.destroy_toxic("latency_downstream")
    assert set(proxy.toxics()) == {"bandwidth_upstream"}

    sock = connect(proxy.listen)
    sock.sendall(b"hi")
    assert sock.recv(2) == b"hi"
    with proxy.down():
        assert client.get_proxy("redis").enabled is False
        sock.settimeout(5)
        assert sock.recv(1) == b""
    assert client.get_proxy("redis").enabled is True
    sock.close()

    assert client.reset()
    assert proxy.toxics() == {}
    assert proxy.destroy()
    with pytest.raises(NotFound):
        proxy.destroy()
    assert client.proxies() == {}


def test_client_populate(client: toxiproxy.Toxiproxy, upstreams: Upstreams) -> None:
    upstream = upstreams.add(echo)
    made = client.populate(
        [
            {"name": "a", "upstream": upstream, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": upstream, "listen": "127.0.0.1:0"},
        ]
    )
    assert {p.name for p in made} == {"a", "b"}
    client.destroy_all()
    assert client.proxies() == {}
