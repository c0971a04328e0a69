"""netem-class impairments of one link direction, as plain data (no kernel, no process).

A link direction carries at most one of each kind — delay, duplicate, corrupt,
reorder, burst loss — and they compose the way netem's parameters do: a packet
may be lost (Gilbert-Elliott), else corrupted, delayed, held back for
reordering and duplicated, all in one pass. Scenario steps set and clear one
kind each, so two overlapping steps on one link never undo each other.

The same value drives the user-space shaper (`_shaper`, over NFQUEUE) and, where
the kernel has it, ``tc ... netem`` (`_netem`); it travels to the shaper as one
JSON line, hence `to_json`/`from_json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

KINDS = ("delay", "duplicate", "corrupt", "reorder", "loss")
"""The impairment kinds, by the name their scenario step uses."""


def _fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} {value!r}: must be within [0, 1]")
    return value


@dataclass(frozen=True)
class Delay:
    """Hold every packet ``latency_s`` ± ``jitter_s`` (uniform, as netem without a table);
    ``correlation`` ties each random draw to the previous one as netem does."""

    latency_s: float
    jitter_s: float = 0.0
    correlation: float = 0.0

    def __post_init__(self) -> None:
        if self.latency_s < 0 or self.jitter_s < 0:
            raise ValueError(f"delay {self.latency_s!r}±{self.jitter_s!r}: must not be negative")
        if self.jitter_s > self.latency_s:
            raise ValueError(f"jitter {self.jitter_s!r}s exceeds latency {self.latency_s!r}s")
        _fraction("delay correlation", self.correlation)


@dataclass(frozen=True)
class Reorder:
    """Hold back ``fraction`` of packets until ``gap`` later packets have overtaken them."""

    fraction: float
    gap: int = 5

    def __post_init__(self) -> None:
        _fraction("reorder fraction", self.fraction)
        if self.gap < 1:
            raise ValueError(f"reorder gap {self.gap!r}: must be at least 1")


@dataclass(frozen=True)
class GilbertElliott:
    """Burst loss: two states; ``p`` good->bad, ``r`` bad->good per packet; a packet is
    delivered with probability ``h`` in the bad state and ``k`` in the good state.
    The mean bad run is ``1/r`` packets; the long-run loss ``p(1-h)+r(1-k)`` over ``p+r``."""

    p: float
    r: float
    h: float = 0.0
    k: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "h", "k"):
            _fraction(f"gilbert-elliott {name}", getattr(self, name))
        if self.r == 0.0:
            raise ValueError("gilbert-elliott r 0: the bad state would never end")

    @property
    def mean_loss(self) -> float:
        return (self.p * (1 - self.h) + self.r * (1 - self.k)) / (self.p + self.r) \
            if self.p + self.r > 0 else 1 - self.k


@dataclass(frozen=True)
class Impairments:
    """Everything in force on one direction of a link; the default is "none"."""

    delay: Delay | None = None
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder: Reorder | None = None
    loss: GilbertElliott | None = None

    def __post_init__(self) -> None:
        _fraction("duplicate fraction", self.duplicate)
        _fraction("corrupt fraction", self.corrupt)

    @property
    def empty(self) -> bool:
        return self == Impairments()

    def with_kind(self, kind: str, params: Mapping[str, float]) -> Impairments:
        """A copy with `kind` set from `params` (the step's figures, in seconds)."""
        p = dict(params)
        if kind == "delay":
            return replace(self, delay=Delay(float(p["latency_s"]), float(p.get("jitter_s", 0)),
                                             float(p.get("correlation", 0))))
        if kind == "duplicate":
            return replace(self, duplicate=_fraction("duplicate", p["fraction"]))
        if kind == "corrupt":
            return replace(self, corrupt=_fraction("corrupt", p["fraction"]))
        if kind == "reorder":
            return replace(self, reorder=Reorder(float(p["fraction"]), int(p.get("gap", 5))))
        if kind == "loss":
            return replace(self, loss=GilbertElliott(float(p["p"]), float(p["r"]),
                                                     float(p.get("h", 0)), float(p.get("k", 1))))
        raise ValueError(f"impairment {kind!r}: expected one of {', '.join(KINDS)}")

    def without_kind(self, kind: str) -> Impairments:
        if kind not in KINDS:
            raise ValueError(f"impairment {kind!r}: expected one of {', '.join(KINDS)}")
        default = Impairments()
        return replace(self, **{kind: getattr(default, kind)})

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Impairments:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            delay=Delay(**raw["delay"]) if raw.get("delay") else None,
            duplicate=float(raw.get("duplicate", 0.0)),
            corrupt=float(raw.get("corrupt", 0.0)),
            reorder=Reorder(**raw["reorder"]) if raw.get("reorder") else None,
            loss=GilbertElliott(**raw["loss"]) if raw.get("loss") else None,
        )

    def describe(self) -> str:
        parts = []
        if self.delay:
            d = self.delay
            parts.append(f"delay {d.latency_s * 1000:g}±{d.jitter_s * 1000:g}ms")
        if self.duplicate:
            parts.append(f"duplicate {self.duplicate:.1%}")
        if self.corrupt:
            parts.append(f"corrupt {self.corrupt:.1%}")
        if self.reorder:
            parts.append(f"reorder {self.reorder.fraction:.1%} gap {self.reorder.gap}")
        if self.loss:
            g = self.loss
            parts.append(f"loss gemodel p={g.p:g} r={g.r:g} h={g.h:g} k={g.k:g}")
        return ", ".join(parts) or "none"
