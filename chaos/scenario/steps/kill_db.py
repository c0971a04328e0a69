"""``kill_db``: SIGKILL every PostgreSQL process, start it again after ``for`` on the
same data (crash recovery from the WAL; nothing acked may be lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class KillDb(Action):
    kind = "kill_db"
    capability = "database"
    summary = "kill -9 every database process, start it again after 'for'"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    async def start(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.kill()

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.database is not None
        await ctx.database.start()

    def exclusive(self) -> str | None:
        return "the database process"

    def describe(self) -> str:
        return "kill -9 database"


STEP = KillDb
