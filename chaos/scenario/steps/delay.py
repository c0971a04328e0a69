"""``delay``: hold the link's packets ``latency`` ± ``jitter`` at L3 (netem, or the shaper)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.steps._base import Link, require_link
from chaos.scenario.steps._impair import ImpairmentStep, parse_direction


@dataclass(frozen=True)
class Delay(ImpairmentStep):
    kind = "delay"
    summary = ("delay packets at L3 (latency: 250ms, jitter: 20ms, correlation: 0.25, "
               "direction: both|to_ns|from_ns)")

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("latency", "jitter", "correlation", "direction"))
        latency = params.require("latency").duration()
        jitter_f = params.get("jitter")
        jitter = jitter_f.duration() if jitter_f else 0.0
        if jitter > latency:
            raise params.error(f"jitter {jitter:g}s exceeds latency {latency:g}s")
        corr = params.get("correlation")
        return cls(link=require_link(link), direction=parse_direction(params),
                   params={"latency_s": latency, "jitter_s": jitter,
                           "correlation": corr.fraction() if corr else 0.0})

    def describe(self) -> str:
        p = self.params
        return (f"L3 delay {p['latency_s'] * 1000:g}±{p['jitter_s'] * 1000:g}ms "
                f"({self.direction}) on {self.link.name}")


STEP = Delay
