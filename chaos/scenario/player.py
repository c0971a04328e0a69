"""Play a scenario's timeline against a ``StepContext``.

Each step runs as its own task: sleep until ``at``, apply, sleep until ``at + for``, revert.
Steps may overlap. Cancelling the player (Ctrl-C, a harness error, the run ending early)
reverts every fault that is in force before the cancellation propagates, so a run never
leaves a link cut or a backend dead behind it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from chaos.scenario.context import StepContext, missing_capability
from chaos.scenario.model import Step
from chaos.scenario.windows import FaultWindow


class TimelinePlayer:
    """Plays ``steps`` once; ``windows`` is live (the live view may read it while it runs)."""

    def __init__(self, steps: Sequence[Step], ctx: StepContext, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._steps = tuple(steps)
        self._ctx = ctx
        self._clock = clock
        self._t0: float | None = None
        self.windows = [
            FaultWindow(step_index=step.index, kind=step.kind, description=step.describe(),
                        link=step.link.name if step.link else None, planned_at_s=step.at_s,
                        planned_for_s=step.for_s)
            for step in self._steps
        ]

    def active(self) -> list[FaultWindow]:
        return [w for w in self.windows if w.status == "active"]

    def skipped(self) -> list[FaultWindow]:
        return [w for w in self.windows if w.status == "skipped"]

    def failed(self) -> list[FaultWindow]:
        return [w for w in self.windows if w.status == "failed"]

    async def run(self) -> list[FaultWindow]:
        """Play from now until the last step is reverted; returns the windows."""
        loop = asyncio.get_running_loop()
        self._t0 = loop.time()
        tasks = [asyncio.create_task(self._play(step, window), name=f"step-{step.index}")
                 for step, window in zip(self._steps, self.windows, strict=True)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                if not task.done():
                    task.cancel()
            # Let every step revert its fault; their own errors are recorded in the windows.
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return self.windows

    async def _sleep_until(self, offset_s: float) -> None:
        assert self._t0 is not None
        delay = self._t0 + offset_s - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _play(self, step: Step, window: FaultWindow) -> None:
        try:
            await self._sleep_until(step.at_s)
        except asyncio.CancelledError:
            window.status = "cancelled"
            window.reason = "the run ended before this step's start"
            raise
        reason = missing_capability(self._ctx, step.action.capability)
        if reason is not None:
            window.status = "skipped"
            window.reason = reason
            return
        window.started_at = self._clock()
        window.status = "active"
        try:
            await step.action.start(self._ctx)
        except asyncio.CancelledError:
            await self._revert(step, window, "interrupted")
            raise
        except Exception as exc:  # recorded: a fault that did not apply is a harness error
            window.status = "failed"
            window.reason = f"start failed: {type(exc).__name__}: {exc}"
            await self._revert(step, window, "failed")
            return
        try:
            await self._sleep_until(step.end_s)
        except asyncio.CancelledError:
            await self._revert(step, window, "interrupted")
            raise
        await self._revert(step, window, "applied")

    async def _revert(self, step: Step, window: FaultWindow, status: str) -> None:
        try:
            await _to_completion(step.action.stop(self._ctx))
        except asyncio.CancelledError:
            window.status = status
            if status == "interrupted":
                window.reason = "reverted early: the run was cancelled"
            raise
        except Exception as exc:
            window.status = "failed"
            detail = f"stop failed: {type(exc).__name__}: {exc}"
            window.reason = f"{window.reason}; {detail}" if window.reason else detail
        else:
            window.status = status
            if status == "interrupted":
                window.reason = "reverted early: the run was cancelled"
        finally:
            window.ended_at = self._clock()


async def _to_completion(awaitable: Awaitable[None]) -> None:
    """Await ``awaitable`` even if we are cancelled meanwhile (a second Ctrl-C, or gather
    cancelling its children while they revert): a half-done revert would leave a link cut.
    A cancellation that arrived is re-raised once the revert is done."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    task.result()
    if cancelled:
        raise asyncio.CancelledError
