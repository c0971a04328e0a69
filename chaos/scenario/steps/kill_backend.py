"""``kill_backend``: SIGKILL the backend, restart it after ``for`` (crash recovery)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class KillBackend(Action):
    kind = "kill_backend"
    capability = "backend"
    summary = "kill -9 the backend, restart it after 'for'"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    async def start(self, ctx: StepContext) -> None:
        assert ctx.backend is not None
        await ctx.backend.kill()

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.backend is not None
        await ctx.backend.restart()

    def exclusive(self) -> str | None:
        return "the backend process"

    def describe(self) -> str:
        return "kill -9 backend"


STEP = KillBackend
