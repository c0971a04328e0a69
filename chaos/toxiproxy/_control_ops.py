"""Every Toxiproxy control operation, written once, independent of how requests are sent.

Each operation is a generator: it yields the :class:`ApiCall` it needs, is sent back the
(already error-checked) ``httpx.Response``, and returns its typed result. The blocking and
the asyncio control in ``chaos.toxiproxy.control`` only differ in how they send a call, so
an operation made of several calls (``create_stack_proxies``, ``clear_toxics``) cannot
drift between the two.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import httpx

from chaos.toxiproxy._control_model import (
    INGEST,
    STREAM,
    ProxyInfo,
    StackProxies,
    Stream,
    ToxicInfo,
    ToxiproxyError,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request to the control API: ``body`` is sent as JSON unless it is None."""

    method: str
    path: str
    body: object = None


#: An operation that makes API calls and finally returns a ``T``.
Operation: TypeAlias = Generator[ApiCall, httpx.Response, T]


def raise_for_error(response: httpx.Response) -> httpx.Response:
    """Turn a 4xx/5xx answer into :class:`ToxiproxyError` with the server's ``error`` text."""
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        raise ToxiproxyError(response.status_code, message)
    return response


def version() -> Operation[str]:
    """The server's version: ``{"version": "2.x"}`` (Toxiproxy >= 2.6) or older bare text."""
    text = (yield ApiCall("GET", "/version")).text.strip()
    if text.startswith("{"):
        return str(json.loads(text).get("version", text))
    return text


def proxies() -> Operation[dict[str, ProxyInfo]]:
    """Every proxy by name."""
    data = (yield ApiCall("GET", "/proxies")).json()
    return {name: ProxyInfo.from_json(p) for name, p in data.items()}


def get_proxy(name: str) -> Operation[ProxyInfo]:
    """One proxy (404 as :class:`ToxiproxyError` if there is none of that name)."""
    return ProxyInfo.from_json((yield ApiCall("GET", f"/proxies/{name}")).json())


def create_proxy(
    name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
) -> Operation[ProxyInfo]:
    """A new proxy; ``listen`` port 0 lets the server pick one (see ``ProxyInfo.listen``)."""
    body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
    return ProxyInfo.from_json((yield ApiCall("POST", "/proxies", body)).json())


def populate(proxies: list[dict[str, Any]]) -> Operation[list[ProxyInfo]]:
    """Create or replace many proxies in one call (Toxiproxy's ``/populate``)."""
    data = (yield ApiCall("POST", "/populate", proxies)).json()
    return [ProxyInfo.from_json(p) for p in data.get("proxies") or []]


def delete_proxy(name: str) -> Operation[None]:
    """Remove a proxy and close its connections."""
    yield ApiCall("DELETE", f"/proxies/{name}")


def create_stack_proxies(
    ingest_upstream: str,
    stream_upstream: str,
    ingest_listen: str = "127.0.0.1:0",
    stream_listen: str = "127.0.0.1:0",
) -> Operation[StackProxies]:
    """(Re)create the ``ingest`` and ``stream`` proxies in front of a backend."""
    existing = yield from proxies()
    for name in (INGEST, STREAM):
        if name in existing:
            yield from delete_proxy(name)
    ingest = yield from create_proxy(INGEST, ingest_upstream, ingest_listen)
    stream = yield from create_proxy(STREAM, stream_upstream, stream_listen)
    return StackProxies(ingest, stream)


def add_toxic(
    proxy: str,
    type: str,
    attributes: dict[str, int] | None = None,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> Operation[ToxicInfo]:
    """Add a toxic; unnamed ones are called ``<type>_<stream>`` as Toxiproxy does."""
    body = {
        "name": name or f"{type}_{stream}",
        "type": type,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes or {},
    }
    return ToxicInfo.from_json((yield ApiCall("POST", f"/proxies/{proxy}/toxics", body)).json())


def update_toxic(
    proxy: str,
    name: str,
    attributes: dict[str, int] | None = None,
    toxicity: float | None = None,
) -> Operation[ToxicInfo]:
    """Change a toxic's attributes (and its toxicity when given) in place."""
    body: dict[str, Any] = {"attributes": attributes or {}}
    if toxicity is not None:
        body["toxicity"] = toxicity
    call = ApiCall("POST", f"/proxies/{proxy}/toxics/{name}", body)
    return ToxicInfo.from_json((yield call).json())


def remove_toxic(proxy: str, name: str) -> Operation[None]:
    """Remove one toxic (404 as :class:`ToxiproxyError` if it is already gone)."""
    yield ApiCall("DELETE", f"/proxies/{proxy}/toxics/{name}")


def toxics(proxy: str) -> Operation[list[ToxicInfo]]:
    """A proxy's toxics."""
    data = (yield ApiCall("GET", f"/proxies/{proxy}/toxics")).json()
    return [ToxicInfo.from_json(t) for t in data]


def clear_toxics(proxy: str) -> Operation[None]:
    """Remove every toxic of one proxy, leaving the others (unlike :func:`reset`)."""
    for toxic in (yield from toxics(proxy)):
        yield from remove_toxic(proxy, toxic.name)


def set_enabled(proxy: str, enabled: bool) -> Operation[ProxyInfo]:
    """Enable or disable a proxy; disabled means not listening and no connections."""
    call = ApiCall("POST", f"/proxies/{proxy}", {"enabled": enabled})
    return ProxyInfo.from_json((yield call).json())


def cut(proxy: str) -> Operation[ProxyInfo]:
    """Take the link down: stop listening and drop its connections."""
    return (yield from set_enabled(proxy, False))


def restore(proxy: str) -> Operation[ProxyInfo]:
    """Bring a cut link back up."""
    return (yield from set_enabled(proxy, True))


def reset() -> Operation[None]:
    """Enable every proxy and remove every toxic."""
    yield ApiCall("POST", "/reset")
