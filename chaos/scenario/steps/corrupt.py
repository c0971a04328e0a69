"""``corrupt``: flip a bit in a fraction of packets at L3 (the checksum fails, TCP resends)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._impair import FractionImpairment


@dataclass(frozen=True)
class Corrupt(FractionImpairment):
    kind = "corrupt"
    summary = "flip a bit in a fraction of packets at L3 (fraction: 0.02, direction: both)"


STEP = Corrupt
