"""What the Toxiproxy v2 control API answers, as typed values, and the error it raises.

Kept apart from the operations and the transports so both the blocking and the asyncio
control (``chaos.toxiproxy.control``) share one definition of every answer's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "INGEST",
    "STREAM",
    "ProxyInfo",
    "StackProxies",
    "Stream",
    "ToxicInfo",
    "ToxiproxyError",
]

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
    """One toxic as the API reports it (``stream`` and ``toxicity`` default as Toxiproxy's)."""

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
    """One proxy as the API reports it, with its toxics."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: list[ToxicInfo] = field(default_factory=list)

    @property
    def listen_host_port(self) -> tuple[str, int]:
        """``listen`` split for ``socket.connect`` (IPv6 brackets removed)."""
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
