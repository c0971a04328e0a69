"""``reorder``: hold back a fraction of the link's packets until ``gap`` later ones pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.steps._base import Link, require_link
from chaos.scenario.steps._impair import ImpairmentStep, parse_direction


@dataclass(frozen=True)
class Reorder(ImpairmentStep):
    kind = "reorder"
    summary = "reorder packets at L3 (fraction: 0.1, gap: 5, direction: both|to_ns|from_ns)"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("fraction", "gap", "direction"))
        gap = params.get("gap")
        return cls(link=require_link(link), direction=parse_direction(params),
                   params={"fraction": params.require("fraction").fraction(),
                           "gap": gap.integer(minimum=1) if gap else 5})

    def describe(self) -> str:
        p = self.params
        return (f"L3 reorder {p['fraction']:.1%} gap {p['gap']:g} ({self.direction}) "
                f"on {self.link.name}")


STEP = Reorder
