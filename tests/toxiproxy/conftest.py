"""Fixtures: one embedded Toxiproxy per session, the real toxiproxy-python client pointed at
it, our typed control, and real TCP upstreams. Every proxy is deleted after each test."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer
from tpx_helpers import Upstreams

from chaos.toxiproxy import EmbeddedToxiproxy, ToxiproxyControl


@pytest.fixture(scope="session")
def embedded() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy() as server:
        yield server


@pytest.fixture
def control(embedded: EmbeddedToxiproxy) -> Iterator[ToxiproxyControl]:
    ctl = ToxiproxyControl(embedded.url)
    try:
        yield ctl
    finally:
        for name in ctl.proxies():
            ctl.delete_proxy(name)
        ctl.close()


@pytest.fixture
def client(embedded: EmbeddedToxiproxy, control: ToxiproxyControl) -> toxiproxy.Toxiproxy:
    """toxiproxy-python, the real client (its host/port are class-level globals)."""
    url = urlsplit(embedded.url)
    APIConsumer.host, APIConsumer.port = url.hostname, url.port
    return toxiproxy.Toxiproxy()


@pytest.fixture(scope="session")
def upstreams() -> Iterator[Upstreams]:
    servers = Upstreams()
    try:
        yield servers
    finally:
        servers.close()
