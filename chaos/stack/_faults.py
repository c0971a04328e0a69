"""The step contexts' database and backend controls over a ``Stack``: every crash-class
fault (kill, power cut, pause) the scenario steps ask for, run in a thread."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from chaos.stack._stack import Stack


class StackDatabase:
    """``DatabaseControl`` (``chaos.scenario.context``): stop/start, kill -9, power cut.

    One operation at a time: a start takes seconds (crash recovery; more on the lazy
    filesystem), and a step that kills the database while the previous step's start is still
    bringing it up would race it for the one process handle. The next fault waits until the
    database is up, which is also what a real outage timeline means."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self._one_at_a_time = asyncio.Lock()

    async def _do(self, operation: Callable[[], object]) -> None:
        async with self._one_at_a_time:
            await asyncio.to_thread(operation)

    async def stop(self) -> None:
        assert self._stack.postgres is not None
        # remove=False: a throwaway data directory must survive its own restart.
        await self._do(functools.partial(self._stack.postgres.stop, "fast", remove=False))

    async def start(self) -> None:
        assert self._stack.postgres is not None
        await self._do(self._stack.postgres.start)

    async def kill(self) -> None:
        await self._do(self._stack.kill_database)

    async def power_cut(self) -> None:
        await self._do(self._stack.power_cut)


class StackBackend:
    """``BackendControl``: kill -9 and restart, SIGSTOP and SIGCONT of the backend."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    async def kill(self) -> None:
        assert self._stack.backend is not None
        await asyncio.to_thread(self._stack.backend.kill)

    async def restart(self) -> None:
        assert self._stack.backend is not None
        await asyncio.to_thread(self._stack.backend.start, 60.0)

    async def pause(self) -> None:
        await asyncio.to_thread(self._stack.pause_backend)

    async def resume(self) -> None:
        await asyncio.to_thread(self._stack.resume_backend)


def unavailable_faults(stack: Stack) -> dict[str, str]:
    """For ``StepContext.unavailable``: the stack's features a run lacks (dotted keys)."""
    return ({"database.power_cut": stack.power_cut_reason} if stack.power_cut_reason
            else {})
