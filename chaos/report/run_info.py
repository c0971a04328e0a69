"""What a report says about the run itself: the scenario and the environment it ran on."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from chaos.scenario.model import Scenario


@dataclass(frozen=True)
class RunInfo:
    """``environment`` is free-form text (the runner fills in what it knows: backend URL,
    Toxiproxy kind, L3 available or why not, database, ...); ``basic_environment()`` gives a
    starting point. ``state_dir``: where the fleet's state (outboxes, ledger, node tokens)
    was kept, outside the report directory so that no upload carries a node's token."""

    scenario: Scenario
    environment: Mapping[str, str] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None
    state_dir: str | None = None


def basic_environment() -> dict[str, str]:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "host": platform.node()}
