"""``loss``: drop the link's packets at L3.

``{fraction: 0.5}`` drops at random with nftables ``numgen random``;
``{model: gilbert-elliott, p, r, h, k}`` drops in bursts (good->bad ``p``, bad->good
``r``, delivery in bad ``h``, in good ``k``; the mean burst is ``1/r`` packets)
through netem or the user-space shaper. ``direction`` is ``both``, ``upstream`` /
``downstream`` (as Toxiproxy says it) or ``to_ns`` / ``from_ns`` (as ``chaos.l3``
says it: the fleet is in the namespace, so upstream = ``from_ns``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext, l3_impairments
from chaos.scenario.steps._base import Action, Link, require_link

DIRECTIONS = ("both", "upstream", "downstream")
"""The directions every L3 step takes (``L3Control``'s)."""

ALL_DIRECTIONS = (*DIRECTIONS, "to_ns", "from_ns")
TO_CONTROL = {"to_ns": "downstream", "from_ns": "upstream"}
TO_L3 = {"upstream": "from_ns", "downstream": "to_ns"}
MODELS = ("random", "gilbert-elliott")


@dataclass(frozen=True)
class Loss(Action):
    kind = "loss"
    capability = "l3"
    needs_link = True
    summary = ("drop packets at L3 (fraction: 0.5, direction: both), or in bursts "
               "(model: gilbert-elliott, p: 0.05, r: 0.5, h: 0.0, k: 1.0)")

    link: Link
    fraction: float
    direction: str
    model: str = "random"
    burst: dict[str, float] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        model_f = params.get("model")
        model = model_f.choice(MODELS) if model_f else "random"
        direction_f = params.get("direction")
        direction = direction_f.choice(ALL_DIRECTIONS) if direction_f else "both"
        if model == "random":
            params.only(("fraction", "direction", "model"))
            return cls(link=require_link(link), fraction=params.require("fraction").fraction(),
                       direction=TO_CONTROL.get(direction, direction))
        params.only(("model", "p", "r", "h", "k", "direction"))
        h, k = params.get("h"), params.get("k")
        r = params.require("r").fraction()
        if r == 0.0:
            raise params.error("r 0: the bad state would never end")
        burst = {"p": params.require("p").fraction(), "r": r,
                 "h": h.fraction() if h else 0.0, "k": k.fraction() if k else 1.0}
        return cls(link=require_link(link), fraction=0.0, model=model, burst=burst,
                   direction=TO_L3.get(direction, direction))

    async def start(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        if self.model == "random":
            await ctx.l3.set_loss(self.link.name, self.fraction, self.direction)
        else:
            await l3_impairments(ctx).impair(self.link.name, "loss", self.burst,
                                             self.direction)

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.l3 is not None
        if self.model == "random":
            await ctx.l3.heal(self.link.name)
        else:
            await l3_impairments(ctx).unimpair(self.link.name, "loss", self.direction)

    def exclusive(self) -> str | None:
        if self.model == "random":
            return f"L3 faults on link {self.link.name}"
        return f"the L3 loss of link {self.link.name}"

    def describe(self) -> str:
        if self.model == "random":
            return f"L3 loss {self.fraction:.0%} ({self.direction}) on {self.link.name}"
        b = self.burst
        return (f"L3 burst loss gilbert-elliott p={b['p']:g} r={b['r']:g} h={b['h']:g} "
                f"k={b['k']:g} ({self.direction}) on {self.link.name}")


STEP = Loss
