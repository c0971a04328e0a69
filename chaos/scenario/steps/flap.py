"""``flap``: the link goes down and up repeatedly (L3 partition, heal, partition, ...).

Built on ``partition``/``heal`` so the L3 layer needs no flap of its own; the loop runs as a
task between ``start`` and ``stop`` and always ends healed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link, require_link


@dataclass(frozen=True)
class Flap(Action):
    kind = "flap"
    capability = "l3"
    needs_link = True
    summary = "link alternates down/up at L3 (down: 1s, up: 2s)"

    link: Link
    down_s: float
    up_s: float
    _task: list[asyncio.Task[None]] = field(default_factory=list, init=False, compare=False,
                                            repr=False)

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("down", "up"))
        down = params.get("down")
        up = params.get("up")
        return cls(link=require_link(link),
                   down_s=down.duration(minimum=0.05) if down else 1.0,
                   up_s=up.duration(minimum=0.05) if up else 2.0)

    async def _loop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        while True:
            await ctx.l3.partition(self.link.name, "both")
            await asyncio.sleep(self.down_s)
            await ctx.l3.heal(self.link.name)
            await asyncio.sleep(self.up_s)

    async def start(self, ctx: StepContext) -> None:
        self._task.append(asyncio.create_task(self._loop(ctx), name=f"flap-{self.link.name}"))

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        while self._task:
            task = self._task.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ctx.l3.heal(self.link.name)

    def exclusive(self) -> str | None:
        return f"L3 faults on link {self.link.name}"

    def describe(self) -> str:
        return f"L3 flap {self.down_s:g}s down / {self.up_s:g}s up on {self.link.name}"


STEP = Flap
