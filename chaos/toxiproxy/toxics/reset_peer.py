"""reset_peer: on the first data, wait ``timeout`` ms, then reset the connection (TCP RST).

As in Toxiproxy, the data that triggered it is not delivered.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class ResetPeerToxic(Toxic):
    type_name = "reset_peer"
    defaults: ClassVar[dict[str, int]] = {"timeout": 0}

    async def pipe(self, stub: Stub) -> None:
        chunk = await stub.get()
        if chunk is None:
            stub.finish()
            return
        await asyncio.sleep(self.attributes["timeout"] / 1000.0)
        stub.drop()
        stub.reset()
