"""``restart_db``: stop PostgreSQL, start it again after ``for`` on the same data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class RestartDb(Action):
    kind = "restart_db"
    capability = "database"
    summary = "stop the database, start it again after 'for'"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    async def start(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.stop()

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.start()

    def exclusive(self) -> str | None:
        return "the database process"

    def describe(self) -> str:
        return "database stopped"


STEP = RestartDb
