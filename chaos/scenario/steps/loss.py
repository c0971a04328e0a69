"""``loss``: drop a fraction of the link's packets at L3 (nftables ``numgen random``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link, require_link

DIRECTIONS = ("both", "upstream", "downstream")


@dataclass(frozen=True)
class Loss(Action):
    kind = "loss"
    capability = "l3"
    needs_link = True
    summary = "drop a fraction of packets at L3 (fraction: 0.5, direction: both)"

    link: Link
    fraction: float
    direction: str

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("fraction", "direction"))
        direction = params.get("direction")
        return cls(link=require_link(link), fraction=params.require("fraction").fraction(),
                   direction=direction.choice(DIRECTIONS) if direction else "both")

    async def start(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.set_loss(self.link.name, self.fraction, self.direction)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.heal(self.link.name)

    def exclusive(self) -> str | None:
        return f"L3 faults on link {self.link.name}"

    def describe(self) -> str:
        return f"L3 loss {self.fraction:.0%} ({self.direction}) on {self.link.name}"


STEP = Loss
