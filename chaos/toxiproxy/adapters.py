"""Adapters from :class:`AsyncToxiproxyControl` to the interfaces other parts of chaos expect.

The scenario timeline (``chaos.scenario.context.ToxiproxyControl``) passes whole toxic specs
and says ``disable``/``enable``; :class:`StepToxiproxy` speaks that, structurally (no import
of ``chaos.scenario``), so the runner can hand it in as the step context's ``toxiproxy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from chaos.toxiproxy.control import AsyncToxiproxyControl, Stream


class ToxicLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def stream(self) -> str: ...
    @property
    def toxicity(self) -> float: ...
    @property
    def attributes(self) -> Mapping[str, int]: ...


class StepToxiproxy:
    """``add_toxic(proxy, spec)``, ``remove_toxic``, ``disable``, ``enable`` over any Toxiproxy."""

    def __init__(self, control: AsyncToxiproxyControl) -> None:
        self.control = control

    async def add_toxic(self, proxy: str, toxic: ToxicLike) -> None:
        stream: Stream = "upstream" if toxic.stream == "upstream" else "downstream"
        await self.control.add_toxic(
            proxy, toxic.type, dict(toxic.attributes), stream, toxic.toxicity, toxic.name
        )

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self.control.remove_toxic(proxy, name)

    async def disable(self, proxy: str) -> None:
        await self.control.cut(proxy)

    async def enable(self, proxy: str) -> None:
        await self.control.restore(proxy)
