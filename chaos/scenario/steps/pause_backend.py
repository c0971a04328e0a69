"""``pause_backend``: SIGSTOP the backend's processes for ``for``, then SIGCONT: a backend
that hangs with its sockets open (unlike a kill, connections neither close nor refuse)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class PauseBackend(Action):
    kind = "pause_backend"
    capability = "backend"
    summary = "freeze the backend (SIGSTOP), resume it after 'for' (SIGCONT)"

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    async def start(self, ctx: StepContext) -> None:
        assert ctx.backend is not None
        await ctx.backend.pause()

    async def stop(self, ctx: StepContext) -> None:
        assert ctx.backend is not None
        await ctx.backend.resume()

    def exclusive(self) -> str | None:
        # A kill_backend's restart would start a new backend while this one is stopped.
        return "the backend process"

    def describe(self) -> str:
        return "backend paused (SIGSTOP)"


STEP = PauseBackend
