"""``duplicate``: send a fraction of the link's packets twice, at L3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.steps._base import Link, require_link
from chaos.scenario.steps._impair import ImpairmentStep, parse_direction


@dataclass(frozen=True)
class Duplicate(ImpairmentStep):
    kind = "duplicate"
    summary = "send a fraction of packets twice at L3 (fraction: 0.1, direction: both)"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("fraction", "direction"))
        return cls(link=require_link(link), direction=parse_direction(params),
                   params={"fraction": params.require("fraction").fraction()})

    def describe(self) -> str:
        return f"L3 duplicate {self.params['fraction']:.1%} ({self.direction}) on {self.link.name}"


STEP = Duplicate
