"""``power_cut``: PostgreSQL killed and every write it had not fsynced lost (its data
directory is on a lazy filesystem, ``chaos.lazyfs``); started again after ``for``."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._outage import ProcessOutage


@dataclass(frozen=True)
class PowerCut(ProcessOutage):
    kind = "power_cut"
    capability = "database.power_cut"
    summary = "cut the database's power (unsynced writes lost), start it again after 'for'"
    target, down, up = "database", "power_cut", "start"
    shared = "the database process"
    description = "power cut of the database"


STEP = PowerCut
