"""slicer: cut each chunk into pieces of about ``average_size`` (+/- ``size_variation``) bytes,
``delay`` microseconds apart (simulates data arriving in small TCP segments)."""

from __future__ import annotations

import asyncio
import random
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Stub, Toxic, register


def slice_offsets(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Cut points 0 < ... < size, splitting in about half recursively (Toxiproxy's scheme)."""
    cuts: list[int] = []

    def split(start: int, end: int) -> None:
        if (end - start) - average <= variation or end - start <= 1:
            cuts.append(end)
            return
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(-variation, variation)
        mid = min(max(mid, start + 1), end - 1)
        split(start, mid)
        split(mid, end)

    if size > 0:
        split(0, size)
    return cuts


@register
class SlicerToxic(Toxic):
    type_name = "slicer"
    defaults: ClassVar[dict[str, int]] = {"average_size": 0, "size_variation": 0, "delay": 0}

    def validate(self) -> str | None:
        if self.attributes["average_size"] < 0 or self.attributes["size_variation"] < 0:
            return "average_size and size_variation must not be negative"
        return None

    async def pipe(self, stub: Stub) -> None:
        average = max(1, self.attributes["average_size"])
        variation = min(self.attributes["size_variation"], max(0, average - 1))
        delay = self.attributes["delay"] / 1_000_000.0
        while (chunk := await stub.get()) is not None:
            start = 0
            due = stub.now()
            for end in slice_offsets(len(chunk.data), average, variation, stub.rng):
                stub.emit(chunk.data[start:end])
                start = end
                if delay > 0:
                    # Timers tick in milliseconds (libuv); keep the schedule on the clock so
                    # sub-millisecond delays add up to the right total instead of to zero.
                    due += delay
                    wait = due - stub.now()
                    if wait >= 0.001:
                        await asyncio.sleep(wait)
        stub.finish()
