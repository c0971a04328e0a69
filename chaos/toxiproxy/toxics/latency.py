"""latency: hold each chunk ``latency`` ms (+/- up to ``jitter`` ms) after it arrived."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


@register
class LatencyToxic(Toxic):
    type_name = "latency"
    defaults: ClassVar[dict[str, int]] = {"latency": 0, "jitter": 0}

    async def pipe(self, stub: Stub) -> None:
        latency, jitter = self.attributes["latency"], self.attributes["jitter"]
        while (chunk := await stub.get()) is not None:
            delay_ms = latency + (stub.rng.randint(-jitter, jitter) if jitter > 0 else 0)
            wait = chunk.ts + delay_ms / 1000.0 - stub.now()
            if wait > 0:
                await asyncio.sleep(wait)
            stub.emit(chunk.data)
        stub.finish()
