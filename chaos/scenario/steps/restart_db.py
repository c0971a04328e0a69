"""``restart_db``: stop PostgreSQL, start it again after ``for`` on the same data."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._outage import ProcessOutage


@dataclass(frozen=True)
class RestartDb(ProcessOutage):
    kind = "restart_db"
    capability = "database"
    summary = "stop the database, start it again after 'for'"
    target, down, up = "database", "stop", "start"
    shared = "the database process"
    description = "database stopped"


STEP = RestartDb
