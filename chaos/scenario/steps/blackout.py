"""``blackout``: an operator blacks out some nodes (API), then lifts it; not a loss."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link

REASON = "sentinel-chaos blackout drill"


@dataclass(frozen=True)
class Blackout(Action):
    kind = "blackout"
    capability = "operator"
    summary = "black out a share of nodes (share: 0.25) or listed nodes (nodes: [...])"

    share: float | None
    nodes: tuple[str, ...]

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("share", "nodes"))
        share = params.get("share")
        nodes = params.get("nodes")
        if (share is None) == (nodes is None):
            raise params.error("give exactly one of 'share' (0..1) or 'nodes' (a list)")
        if share is not None:
            return cls(share=share.fraction(), nodes=())
        assert nodes is not None
        names = tuple(item.text() for item in nodes.elements())
        if not names:
            raise nodes.error("expected at least one node id")
        return cls(share=None, nodes=names)

    def targets(self, node_ids: Sequence[str]) -> list[str]:
        """The nodes to black out: listed ones, or every k-th node so the share is spread."""
        if self.share is None:
            return list(self.nodes)
        ordered = sorted(node_ids)
        count = math.ceil(self.share * len(ordered))
        if count == 0:
            return []
        stride = len(ordered) / count
        return [ordered[int(i * stride)] for i in range(count)]

    async def start(self, ctx: StepContext) -> None:
        assert ctx.operator is not None
        await ctx.operator.blackout_activate(self.targets(ctx.fleet.node_ids), REASON)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.operator is not None
        await ctx.operator.blackout_deactivate(self.targets(ctx.fleet.node_ids), REASON)

    def exclusive(self) -> str | None:
        return "the blackout"

    def describe(self) -> str:
        if self.share is not None:
            return f"blackout of {self.share:.0%} of nodes"
        return f"blackout of {len(self.nodes)} node(s)"


STEP = Blackout
