"""``kill_backend``: SIGKILL the backend, restart it after ``for`` (crash recovery)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._outage import ProcessOutage


@dataclass(frozen=True)
class KillBackend(ProcessOutage):
    kind = "kill_backend"
    capability = "backend"
    summary = "kill -9 the backend, restart it after 'for'"
    target, down, up = "backend", "kill", "restart"
    shared = "the backend process"
    description = "kill -9 backend"


STEP = KillBackend
