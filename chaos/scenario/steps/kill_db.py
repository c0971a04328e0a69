"""``kill_db``: SIGKILL every PostgreSQL process, start it again after ``for`` on the
same data (crash recovery from the WAL; nothing acked may be lost)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._outage import ProcessOutage


@dataclass(frozen=True)
class KillDb(ProcessOutage):
    kind = "kill_db"
    capability = "database"
    summary = "kill -9 every database process, start it again after 'for'"
    target, down, up = "database", "kill", "start"
    shared = "the database process"
    description = "kill -9 database"


STEP = KillDb
