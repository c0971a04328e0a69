"""What the impairment steps (delay, duplicate, corrupt, reorder, burst loss) share.

Each sets one impairment kind on its link and clears only that kind on stop, so
a delay and a duplicate step (say) may overlap on one link and compose like
netem's parameters; two steps of the same kind on one link may not overlap.
Directions are ``to_ns``/``from_ns``/``both`` as ``chaos.l3`` says them, and
``upstream``/``downstream`` as the other L3 steps say them: the fleet sits in
the namespace, so upstream (towards the backend) leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import L3_IMPAIRMENTS, StepContext, l3_impairments
from chaos.scenario.steps._base import Action, Link, require_link

DIRECTIONS = ("to_ns", "from_ns", "both", "upstream", "downstream")
TO_L3 = {"upstream": "from_ns", "downstream": "to_ns"}


def parse_direction(params: Field) -> str:
    """The step's ``direction`` in ``chaos.l3`` terms (default ``both``)."""
    direction = params.get("direction")
    value = direction.choice(DIRECTIONS) if direction else "both"
    return TO_L3.get(value, value)


@dataclass(frozen=True)
class ImpairmentStep(Action):
    """One impairment kind on one link; subclasses parse their figures into ``params``."""

    capability = L3_IMPAIRMENTS
    needs_link = True

    link: Link
    direction: str
    params: Mapping[str, float] = field(default_factory=dict, hash=False)

    async def start(self, ctx: StepContext) -> None:
        await l3_impairments(ctx).impair(self.link.name, self.kind, self.params, self.direction)

    async def stop(self, ctx: StepContext) -> None:
        await l3_impairments(ctx).unimpair(self.link.name, self.kind, self.direction)

    def exclusive(self) -> str | None:
        return f"the L3 {self.kind} of link {self.link.name}"


@dataclass(frozen=True)
class FractionImpairment(ImpairmentStep):
    """An impairment with one figure, the ``fraction`` of packets it hits (``duplicate``,
    ``corrupt``): the subclass names only its kind and summary."""

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("fraction", "direction"))
        return cls(link=require_link(link), direction=parse_direction(params),
                   params={"fraction": params.require("fraction").fraction()})

    def describe(self) -> str:
        return (f"L3 {self.kind} {self.params['fraction']:.1%} ({self.direction}) "
                f"on {self.link.name}")
