"""The one interface every step type implements (one file per type in this folder)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Self

from chaos.scenario._yaml import Field
from chaos.scenario.context import StepContext


@dataclass(frozen=True)
class Link:
    """A named path the faults act on: ``ingest`` (fleet -> backend), ``stream`` (-> dashboards).

    ``proxy`` is the Toxiproxy proxy name for L4 steps; L3 steps pass the link name itself.
    """

    name: str
    proxy: str


class Action(ABC):
    """A fault type: parsed and validated at load time, applied and reverted at run time.

    ``kind`` is the key used in the YAML step (``toxic:``, ``cut:``...); ``capability`` is
    the ``StepContext`` member it needs (the step is skipped with the reason when that is
    ``None``); ``needs_link`` says whether the step must name a link.
    """

    kind: ClassVar[str]
    capability: ClassVar[str]
    needs_link: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        """Validate the step's own fields; raise ``params.error(...)`` naming the field."""

    @abstractmethod
    async def start(self, ctx: StepContext) -> None:
        """Apply the fault."""

    @abstractmethod
    async def stop(self, ctx: StepContext) -> None:
        """Revert the fault. Called also after a failed or cancelled ``start``: be tolerant."""

    def exclusive(self) -> str | None:
        """What two overlapping steps must not share, because the first one's revert would
        undo the other (``heal`` clears every L3 fault of a link). ``None``: no such thing."""
        return None

    @abstractmethod
    def describe(self) -> str:
        """One short line for the live view and the report, e.g. ``latency 600±200ms``."""


def require_link(link: Link | None) -> Link:
    if link is None:  # the loader enforces needs_link; this keeps mypy and callers honest
        raise RuntimeError("this step type needs a link")
    return link
