"""Group commit: many concurrent requests, one statement (one COMMIT, one fsync) per group.

Requests are queued; a runner takes what is queued as one group, writes it with one call
of `write` and answers every request of the group only after that call returned, i.e.
after its COMMIT. One fsync then acknowledges many requests, which is how one worker
passes the per-commit fsync ceiling without giving up ack-after-commit. Users: detections
(:mod:`.ingest`), registrations and heartbeats (:mod:`.nodewrite`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from .db import DatabaseUnavailable, Overloaded

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")

#: How long `stop` lets groups already being written finish before cancelling them.
STOP_GRACE_S = 10.0


class GroupCommit(Generic[T, R]):
    """Queue items, write them in groups with `write`, answer each caller after the write
    of its group returned. Bounded: :class:`Overloaded` (429) past `queue_max` queued.

    * `write` gets the items of one group and returns one entry per item, in order: the
      item's result, or an exception for that item alone (raised to its caller only). An
      exception raised by `write` fails the whole group: every caller gets
      ``failure(exc)``.
    * `parallel`: how many groups may be written at once. With `key`, a group holds items
      of distinct keys; a later item with a key already in the open group waits for the
      next one (with ``parallel=1`` no two groups then lock the same rows at once).
    * `on_group(size, seconds)` is called after each group written without error.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        name: str,
        max_group: int = 1000,
        queue_max: int = 10_000,
        parallel: int = 1,
        key: Callable[[T], Hashable] | None = None,
        failure: Callable[[BaseException], BaseException] = lambda exc: exc,
        on_group: Callable[[int, float], None] | None = None,
    ) -> None:
        self._write = write
        self._name = name
        self._max_group = max_group
        self._queue_max = queue_max
        self._key = key
        self._failure = failure
        self._on_group = on_group
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(parallel)
        self._task: asyncio.Task[None] | None = None
        self._groups: set[asyncio.Task[None]] = set()

    @property
    def depth(self) -> int:
        """Items queued and not yet taken into a group."""
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")

    async def stop(self) -> None:
        """Stop taking groups, let the groups being written finish (bounded by
        :data:`STOP_GRACE_S`), and fail what is still queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._groups:
            _, late = await asyncio.wait(set(self._groups), timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        for _, fut in self._pending:
            if not fut.done():
                fut.set_exception(DatabaseUnavailable("backend shutting down"))
        self._pending.clear()

    async def submit(self, item: T) -> R:
        """Queue `item`; returns after the COMMIT that wrote it (or raises)."""
        if len(self._pending) >= self._queue_max:
            raise Overloaded(f"{self._name} queue full")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._wake.set()
        return await fut

    def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        if self._key is None:
            group = self._pending[: self._max_group]
            del self._pending[: self._max_group]
            return group
        group, rest = [], []
        seen: set[Hashable] = set()
        for entry in self._pending:
            k = self._key(entry[0])
            if len(group) < self._max_group and k not in seen:
                seen.add(k)
                group.append(entry)
            else:
                rest.append(entry)
        self._pending = rest
        return group

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                await self._slots.acquire()
                task = asyncio.create_task(self._commit(self._take()))
                self._groups.add(task)
                task.add_done_callback(self._groups.discard)

    async def _commit(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            results = await self._write([item for item, _ in group])
        except asyncio.CancelledError:
            _fail(group, DatabaseUnavailable("backend shutting down"))
            raise
        except Exception as exc:
            _fail(group, self._failure(exc))
            return
        finally:
            self._slots.release()
        for (_, fut), result in zip(group, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        if self._on_group is not None:
            self._on_group(len(group), loop.time() - started)


def _fail(group: Sequence[tuple[object, asyncio.Future[R]]], error: BaseException) -> None:
    for _, fut in group:
        if not fut.done():
            fut.set_exception(error)
