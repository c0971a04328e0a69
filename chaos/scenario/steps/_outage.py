"""The shape every process outage shares: take a process down at the step's start, bring it
back at its end, with no parameters of its own. One subclass per way of going down
(stop, kill -9, power cut, SIGSTOP), each naming the two calls it makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext
from chaos.scenario.steps._base import Action, Link


@dataclass(frozen=True)
class ProcessOutage(Action):
    """``target``: the ``StepContext`` member (``database`` or ``backend``); ``down``/``up``:
    its methods that take the process down and bring it back; ``shared``: what two such
    steps must not overlap on; ``description``: the line for the live view and report."""

    target: ClassVar[str]
    down: ClassVar[str]
    up: ClassVar[str]
    shared: ClassVar[str]
    description: ClassVar[str]

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(())
        return cls()

    def _control(self, ctx: StepContext) -> Any:
        control = getattr(ctx, self.target)
        assert control is not None, f"{self.kind} runs only when ctx.{self.target} is set"
        return control

    async def start(self, ctx: StepContext) -> None:
        await getattr(self._control(ctx), self.down)()

    async def stop(self, ctx: StepContext) -> None:
        await getattr(self._control(ctx), self.up)()

    def exclusive(self) -> str | None:
        return self.shared

    def describe(self) -> str:
        return self.description
