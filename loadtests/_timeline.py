"""The fault timeline a Locust run plays, taken from the same scenarios the harness runs.

The scenario is read by ``chaos.scenario`` (one loader, one format, the same built-ins:
``--scenario smoke`` or a path). Only the steps the Toxiproxy API can play from Locust
are kept (``toxic`` and ``cut`` on a link's proxy); the others (L3 loss, partition,
blackout, kill -9 of the backend, database restart) need the full harness, and are
returned as one-line reasons so the caller says which ones it skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.scenario import ScenarioError, resolve_scenario
from chaos.scenario.steps.cut import Cut
from chaos.scenario.steps.toxic import Toxic

__all__ = ["FaultStep", "TimelineError", "load_timeline", "scenario_duration"]


class TimelineError(ValueError):
    """A scenario that cannot be played; the message names the file, line and field."""


@dataclass(frozen=True)
class FaultStep:
    """One L4 fault: applied at ``at`` seconds into the run, removed ``duration`` later."""

    index: int
    at: float
    duration: float
    proxy: str
    kind: str  # "toxic" or "cut"
    toxic_name: str = ""
    toxic_type: str = ""
    stream: str = "downstream"
    toxicity: float = 1.0
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        what = "cut" if self.kind == "cut" else f"{self.toxic_type} {self.attributes}"
        return f"step {self.index}: {what} on {self.proxy} at {self.at:g}s for {self.duration:g}s"


def load_timeline(name_or_path: str | Path) -> tuple[list[FaultStep], list[str]]:
    """The playable steps of a scenario (built-in name or file), and reasons for the rest."""
    try:
        scenario = resolve_scenario(name_or_path)
    except (ScenarioError, KeyError, ValueError) as exc:
        raise TimelineError(f"scenario {name_or_path}: {exc}") from exc
    playable: list[FaultStep] = []
    skipped: list[str] = []
    for step in scenario.steps:
        action = step.action
        if isinstance(action, Toxic):
            spec = action.spec
            playable.append(FaultStep(
                step.index, step.at_s, step.for_s, action.link.proxy, "toxic", spec.name,
                spec.type, spec.stream, spec.toxicity, dict(spec.attributes),
            ))
        elif isinstance(action, Cut):
            playable.append(FaultStep(step.index, step.at_s, step.for_s, action.link.proxy,
                                      "cut"))
        else:
            skipped.append(f"scenario {scenario.name} step {step.index} ({step.describe()}) "
                           "needs the full harness (sentinel-chaos run); not played by Locust")
    playable.sort(key=lambda s: (s.at, s.index))
    return playable, skipped


def scenario_duration(name_or_path: str | Path) -> float:
    """The scenario's own ``duration`` (seconds): the run time when ``-t`` is not given."""
    try:
        return float(resolve_scenario(name_or_path).duration_s)
    except (ScenarioError, KeyError, ValueError) as exc:
        raise TimelineError(f"scenario {name_or_path}: {exc}") from exc
