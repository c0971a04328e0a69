"""``partition``: drop every packet of the link at L3, then heal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link, require_link
from chaos.scenario.steps.loss import DIRECTIONS


@dataclass(frozen=True)
class Partition(Action):
    kind = "partition"
    capability = "l3"
    needs_link = True
    summary = "drop all packets of a link at L3 (direction: both|upstream|downstream)"

    link: Link
    direction: str

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("direction",))
        direction = params.get("direction")
        return cls(link=require_link(link),
                   direction=direction.choice(DIRECTIONS) if direction else "both")

    async def start(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.partition(self.link.name, self.direction)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        await ctx.l3.heal(self.link.name)

    def exclusive(self) -> str | None:
        return f"L3 faults on link {self.link.name}"

    def describe(self) -> str:
        return f"L3 partition ({self.direction}) of {self.link.name}"


STEP = Partition
