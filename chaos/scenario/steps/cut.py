"""``cut``: disable a link's proxy (connections dropped, new ones refused), then restore (L4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link, require_link


@dataclass(frozen=True)
class Cut(Action):
    kind = "cut"
    capability = "toxiproxy"
    needs_link = True
    summary = "cut a link at L4 (Toxiproxy proxy disabled), restored after 'for'"

    link: Link

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls(link=require_link(link))

    async def start(self, ctx: StepContext) -> None:
        assert ctx.toxiproxy is not None
        await ctx.toxiproxy.disable(self.link.proxy)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.toxiproxy is not None
        await ctx.toxiproxy.enable(self.link.proxy)

    def exclusive(self) -> str | None:
        return f"the L4 cut of link {self.link.name}"

    def describe(self) -> str:
        return f"cut {self.link.name}"


STEP = Cut
