"""slow_close: pass data untouched, but hold the close (FIN) ``delay`` ms."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class SlowCloseToxic(Toxic):
    type_name = "slow_close"
    defaults: ClassVar[dict[str, int]] = {"delay": 0}

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.get()) is not None:
            stub.emit(chunk.data)
        await asyncio.sleep(self.attributes["delay"] / 1000.0)
        stub.finish()
