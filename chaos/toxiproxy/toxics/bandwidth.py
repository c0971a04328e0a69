"""bandwidth: pass data at ``rate`` KB/s (1 KB = 1000 bytes, as Toxiproxy counts).

Large chunks go out in 100 ms slices so a slow rate still trickles; the schedule is kept
against the clock (not by summing sleeps) so the long-run rate does not drift.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class BandwidthToxic(Toxic):
    type_name = "bandwidth"
    defaults: ClassVar[dict[str, int]] = {"rate": 0}

    async def pipe(self, stub: Stub) -> None:
        rate = self.attributes["rate"]
        if rate <= 0:
            while (chunk := await stub.get()) is not None:
                stub.emit(chunk.data)
            stub.finish()
            return
        bytes_per_s = rate * 1000.0
        slice_size = max(1, rate * 100)
        due = stub.now()  # when the link is free to send the next byte
        while (chunk := await stub.get()) is not None:
            due = max(due, stub.now())
            data = chunk.data
            for start in range(0, len(data), slice_size):
                piece = data[start : start + slice_size]
                due += len(piece) / bytes_per_s
                wait = due - stub.now()
                if wait > 0:
                    await asyncio.sleep(wait)
                stub.emit(piece)
        stub.finish()
