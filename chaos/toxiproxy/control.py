"""Typed control of any Toxiproxy (real or embedded): sync for Locust/pytest, async for the harness.

Built on httpx rather than toxiproxy-python because that client keeps its server's host and
port in class attributes (``APIConsumer.host/port``), i.e. one global server per process,
and it swallows errors other than 400/404/409. Both classes speak the same Toxiproxy v2 API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import httpx

Stream = Literal["upstream", "downstream"]

#: The proxy names the harness uses for a stack's two links.
INGEST = "ingest"
STREAM = "stream"


class ToxiproxyError(RuntimeError):
    """The Toxiproxy API answered with an error (``status`` and its ``error`` text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"toxiproxy answered {status}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ToxicInfo:
        return cls(
            data["name"],
            data["type"],
            data.get("stream", "downstream"),
            float(data.get("toxicity", 1.0)),
            dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[ToxicInfo] = field(default_factory=list)

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProxyInfo:
        return cls(
            data["name"],
            data["listen"],
            data["upstream"],
            bool(data["enabled"]),
            [ToxicInfo.from_json(t) for t in data.get("toxics") or []],
        )


@dataclass(frozen=True, slots=True)
class StackProxies:
    """The two proxies between the fleet and the backend."""

    ingest: ProxyInfo
    stream: ProxyInfo


def _toxic_body(
    type: str,
    attributes: dict[str, int] | None,
    stream: Stream,
    toxicity: float,
    name: str | None,
) -> dict[str, Any]:
    return {
        "name": name or f"{type}_{stream}",
        "type": type,
        "stream": stream,
        "toxicity": toxicity,
        "attributes": attributes or {},
    }


def _version(text: str) -> str:
    """``{"version": "2.x"}`` (Toxiproxy >= 2.6) or the bare text of older servers."""
    if text.startswith("{"):
        return str(json.loads(text).get("version", text))
    return text


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            message = str(response.json().get("error", response.text))
        except ValueError:
            message = response.text
        raise ToxiproxyError(response.status_code, message)
    return response


class ToxiproxyControl:
    """Blocking control of the Toxiproxy at ``url`` (e.g. ``http://127.0.0.1:8474``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyControl:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _req(self, method: str, path: str, body: object = None) -> httpx.Response:
        return _check(self._http.request(method, path, json=body))

    def version(self) -> str:
        text = self._req("GET", "/version").text.strip()
        return _version(text)

    def proxies(self) -> dict[str, ProxyInfo]:
        data = self._req("GET", "/proxies").json()
        return {name: ProxyInfo.from_json(p) for name, p in data.items()}

    def get_proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_json(self._req("GET", f"/proxies/{name}").json())

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.from_json(self._req("POST", "/proxies", body).json())

    def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyInfo]:
        data = self._req("POST", "/populate", proxies).json()
        return [ProxyInfo.from_json(p) for p in data.get("proxies") or []]

    def delete_proxy(self, name: str) -> None:
        self._req("DELETE", f"/proxies/{name}")

    def create_stack_proxies(
        self,
        ingest_upstream: str,
        stream_upstream: str,
        ingest_listen: str = "127.0.0.1:0",
        stream_listen: str = "127.0.0.1:0",
    ) -> StackProxies:
        """(Re)create the ``ingest`` and ``stream`` proxies in front of a backend."""
        for name in (INGEST, STREAM):
            if name in self.proxies():
                self.delete_proxy(name)
        return StackProxies(
            self.create_proxy(INGEST, ingest_upstream, ingest_listen),
            self.create_proxy(STREAM, stream_upstream, stream_listen),
        )

    def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, int] | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicInfo:
        body = _toxic_body(type, attributes, stream, toxicity, name)
        return ToxicInfo.from_json(self._req("POST", f"/proxies/{proxy}/toxics", body).json())

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{proxy}/toxics/{name}"
        return ToxicInfo.from_json(self._req("POST", path, body).json())

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._req("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def toxics(self, proxy: str) -> list[ToxicInfo]:
        return [ToxicInfo.from_json(t) for t in self._req("GET", f"/proxies/{proxy}/toxics").json()]

    def clear_toxics(self, proxy: str) -> None:
        for toxic in self.toxics(proxy):
            self.remove_toxic(proxy, toxic.name)

    def set_enabled(self, proxy: str, enabled: bool) -> ProxyInfo:
        return ProxyInfo.from_json(
            self._req("POST", f"/proxies/{proxy}", {"enabled": enabled}).json()
        )

    def cut(self, proxy: str) -> ProxyInfo:
        """Take the link down: stop listening and drop its connections."""
        return self.set_enabled(proxy, False)

    def restore(self, proxy: str) -> ProxyInfo:
        return self.set_enabled(proxy, True)

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._req("POST", "/reset")


class AsyncToxiproxyControl:
    """The same operations as :class:`ToxiproxyControl`, for asyncio code."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncToxiproxyControl:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _req(self, method: str, path: str, body: object = None) -> httpx.Response:
        return _check(await self._http.request(method, path, json=body))

    async def version(self) -> str:
        text = (await self._req("GET", "/version")).text.strip()
        return _version(text)

    async def proxies(self) -> dict[str, ProxyInfo]:
        data = (await self._req("GET", "/proxies")).json()
        return {name: ProxyInfo.from_json(p) for name, p in data.items()}

    async def get_proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.from_json((await self._req("GET", f"/proxies/{name}")).json())

    async def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.from_json((await self._req("POST", "/proxies", body)).json())

    async def populate(self, proxies: list[dict[str, Any]]) -> list[ProxyInfo]:
        data = (await self._req("POST", "/populate", proxies)).json()
        return [ProxyInfo.from_json(p) for p in data.get("proxies") or []]

    async def delete_proxy(self, name: str) -> None:
        await self._req("DELETE", f"/proxies/{name}")

    async def create_stack_proxies(
        self,
        ingest_upstream: str,
        stream_upstream: str,
        ingest_listen: str = "127.0.0.1:0",
        stream_listen: str = "127.0.0.1:0",
    ) -> StackProxies:
        existing = await self.proxies()
        for name in (INGEST, STREAM):
            if name in existing:
                await self.delete_proxy(name)
        return StackProxies(
            await self.create_proxy(INGEST, ingest_upstream, ingest_listen),
            await self.create_proxy(STREAM, stream_upstream, stream_listen),
        )

    async def add_toxic(
        self,
        proxy: str,
        type: str,
        attributes: dict[str, int] | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicInfo:
        body = _toxic_body(type, attributes, stream, toxicity, name)
        response = await self._req("POST", f"/proxies/{proxy}/toxics", body)
        return ToxicInfo.from_json(response.json())

    async def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: dict[str, int] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity
        response = await self._req("POST", f"/proxies/{proxy}/toxics/{name}", body)
        return ToxicInfo.from_json(response.json())

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self._req("DELETE", f"/proxies/{proxy}/toxics/{name}")

    async def toxics(self, proxy: str) -> list[ToxicInfo]:
        data = (await self._req("GET", f"/proxies/{proxy}/toxics")).json()
        return [ToxicInfo.from_json(t) for t in data]

    async def clear_toxics(self, proxy: str) -> None:
        for toxic in await self.toxics(proxy):
            await self.remove_toxic(proxy, toxic.name)

    async def set_enabled(self, proxy: str, enabled: bool) -> ProxyInfo:
        response = await self._req("POST", f"/proxies/{proxy}", {"enabled": enabled})
        return ProxyInfo.from_json(response.json())

    async def cut(self, proxy: str) -> ProxyInfo:
        return await self.set_enabled(proxy, False)

    async def restore(self, proxy: str) -> ProxyInfo:
        return await self.set_enabled(proxy, True)

    async def reset(self) -> None:
        await self._req("POST", "/reset")
