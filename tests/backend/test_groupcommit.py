"""The group-commit mechanism on its own: groups, per-item errors, bound, shutdown.

The `write` functions here are real coroutines standing in for a statement; what is under
test is the queueing and answering, which is the same for detections and node writes.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sentinel_backend._groupcommit import GroupCommit
from sentinel_backend.db import DatabaseUnavailable, Overloaded


async def test_concurrent_items_share_one_group_and_each_gets_its_result() -> None:
    groups: list[list[int]] = []

    async def write(items: list[int]) -> list[int | BaseException]:
        groups.append(items)
        return [i * 10 for i in items]

    gc: GroupCommit[int, int] = GroupCommit(write, name="t")
    gc.start()
    try:
        assert await asyncio.gather(*(gc.submit(i) for i in range(50))) == [
            i * 10 for i in range(50)]
    finally:
        await gc.stop()
    assert sum(len(g) for g in groups) == 50
    assert len(groups) < 50  # grouped, not one write per item


async def test_a_failed_item_fails_only_its_caller_and_a_failed_group_every_caller() -> None:
    async def write(items: list[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("whole group")
        return [ValueError(f"bad {i}") if i == 3 else i for i in items]

    gc: GroupCommit[int, int] = GroupCommit(
        write, name="t", failure=lambda exc: DatabaseUnavailable(str(exc)))
    gc.start()
    try:
        answers = await asyncio.gather(*(gc.submit(i) for i in range(5)),
                                       return_exceptions=True)
        assert answers[:3] == [0, 1, 2] and answers[4] == 4
        assert isinstance(answers[3], ValueError)
        with pytest.raises(DatabaseUnavailable, match="whole group"):
            await gc.submit(99)
    finally:
        await gc.stop()


async def test_a_group_holds_distinct_keys_only() -> None:
    groups: list[list[str]] = []

    async def write(items: list[str]) -> list[str | BaseException]:
        groups.append(items)
        return list(items)

    gc: GroupCommit[str, str] = GroupCommit(write, name="t", key=lambda s: s)
    gc.start()
    try:
        await asyncio.gather(*(gc.submit(s) for s in ["a", "b", "a", "a", "c"]))
    finally:
        await gc.stop()
    assert all(len(g) == len(set(g)) for g in groups)
    assert sorted(s for g in groups for s in g) == ["a", "a", "a", "b", "c"]


async def test_past_the_bound_overloaded_and_on_stop_the_queued_fail() -> None:
    release = asyncio.Event()

    async def write(items: list[int]) -> list[int | BaseException]:
        await release.wait()
        return list(items)

    gc: GroupCommit[int, int] = GroupCommit(write, name="t", max_group=1, queue_max=2)
    gc.start()
    first = asyncio.create_task(gc.submit(0))
    for _ in range(100):  # bounded: until the runner took item 0 into a group
        await asyncio.sleep(0)
        if gc.depth == 0:
            break
    queued = [asyncio.create_task(gc.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        await gc.submit(3)
    release.set()
    assert await first == 0
    await gc.stop()
    for task in queued:  # either written before the stop or failed by it, never lost
        with contextlib.suppress(DatabaseUnavailable):
            assert await task in (1, 2)
