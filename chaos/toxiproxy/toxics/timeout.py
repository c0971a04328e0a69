"""timeout: let no data through; close the connection after ``timeout`` ms.

With ``timeout`` 0 the connection stays open and the data is held (not read further, so
the sender feels back-pressure) until the toxic is removed, when it flows on in order.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class TimeoutToxic(Toxic):
    type_name = "timeout"
    defaults: ClassVar[dict[str, int]] = {"timeout": 0}

    async def pipe(self, stub: Stub) -> None:
        timeout = self.attributes["timeout"]
        if timeout > 0:
            await asyncio.sleep(timeout / 1000.0)
            stub.close()
        else:
            await asyncio.Event().wait()  # until removed (the task is cancelled)
