"""``duplicate``: send a fraction of the link's packets twice, at L3."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._impair import FractionImpairment


@dataclass(frozen=True)
class Duplicate(FractionImpairment):
    kind = "duplicate"
    summary = "send a fraction of packets twice at L3 (fraction: 0.1, direction: both)"


STEP = Duplicate
