"""``bandwidth``: cap the link's rate at L3 with ``tc tbf`` (kbit/s)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link, require_link
from chaos.scenario.steps.loss import DIRECTIONS


@dataclass(frozen=True)
class Bandwidth(Action):
    kind = "bandwidth"
    capability = "l3"
    needs_link = True
    summary = "cap a link's bandwidth at L3 with tc tbf (rate_kbit: 256, direction: both)"

    link: Link
    rate_kbit: int
    direction: str

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("rate_kbit", "direction"))
        direction = params.get("direction")
        return cls(link=require_link(link),
                   rate_kbit=params.require("rate_kbit").integer(minimum=1),
                   direction=direction.choice(DIRECTIONS) if direction else "both")

    async def start(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.set_bandwidth(self.link.name, self.rate_kbit, self.direction)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.clear_bandwidth(self.link.name)

    def exclusive(self) -> str | None:
        return f"the L3 bandwidth cap of link {self.link.name}"

    def describe(self) -> str:
        return f"L3 bandwidth {self.rate_kbit} kbit/s ({self.direction}) on {self.link.name}"


STEP = Bandwidth
