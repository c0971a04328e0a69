"""``power_cut``: PostgreSQL killed and every write it had not fsynced lost (its data
directory is on a lazy filesystem, ``chaos.lazyfs``); started again after ``for``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class PowerCut(Action):
    kind = "power_cut"
    capability = "database.power_cut"
    summary = "cut the database's power (unsynced writes lost), start it again after 'for'"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    async def start(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.power_cut()

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.start()

    def exclusive(self) -> str | None:
        return "the database process"

    def describe(self) -> str:
        return "power cut of the database"


STEP = PowerCut
