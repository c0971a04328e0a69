"""The shaper's timeline: packets waiting out their delay, and packets held for reordering.

Generic over what a packet is (anything with ``accept()``), so the ordering rules
live apart from NFQUEUE. A delayed packet is released when its time comes
(earliest first; equal times keep arrival order). A packet held for reordering
is released once `gap` later packets have been released, or after
`REORDER_MAX_HOLD_S` so a flow that falls quiet is not stalled forever.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

REORDER_MAX_HOLD_S = 0.2


class Verdictable(Protocol):
    def accept(self) -> None: ...


P = TypeVar("P", bound=Verdictable)


@dataclass(order=True)
class _Due(Generic[P]):
    at: float
    seq: int
    packet: P = field(compare=False)
    hold: bool = field(compare=False, default=False)
    after_release: Callable[[], None] | None = field(compare=False, default=None)


@dataclass
class _Held(Generic[P]):
    until_count: int
    deadline: float
    packet: P
    after_release: Callable[[], None] | None


class Timeline(Generic[P]):
    """Holds packets and releases them in the order the impairments ask for."""

    def __init__(self, gap: int = 5) -> None:
        self.gap = gap
        self._due: list[_Due[P]] = []
        self._held: list[_Held[P]] = []
        self._seq = itertools.count()
        self.released = 0

    def __len__(self) -> int:
        return len(self._due) + len(self._held)

    def add(self, packet: P, at: float, *, hold: bool = False,
            after_release: Callable[[], None] | None = None) -> None:
        """Release `packet` at `at` (monotonic); then hold it for reordering if `hold`.
        `after_release` runs right after its ``accept()`` (the duplicate goes out there)."""
        heapq.heappush(self._due, _Due(at, next(self._seq), packet, hold, after_release))

    def next_at(self) -> float | None:
        """When something is next due, or None when nothing waits."""
        times = [self._due[0].at] if self._due else []
        times += [h.deadline for h in self._held]
        return min(times) if times else None

    def _release(self, packet: P, after_release: Callable[[], None] | None) -> None:
        packet.accept()
        self.released += 1
        if after_release is not None:
            after_release()

    def release_due(self, now: float) -> None:
        """Release everything whose time has come (bounded by what is queued)."""
        while self._due and self._due[0].at <= now:
            due = heapq.heappop(self._due)
            if due.hold:
                self._held.append(_Held(self.released + self.gap, now + REORDER_MAX_HOLD_S,
                                        due.packet, due.after_release))
                continue
            self._release(due.packet, due.after_release)
            self._release_held(now)
        self._release_held(now)

    def _release_held(self, now: float) -> None:
        ready: list[_Held[P]] = []
        waiting: list[_Held[P]] = []
        for h in self._held:
            (ready if h.until_count <= self.released or h.deadline <= now else waiting).append(h)
        if not ready:
            return
        self._held = waiting
        for h in ready:
            self._release(h.packet, h.after_release)

    def release_all(self) -> None:
        """Let every waiting packet go now, in order (the shaper is stopping)."""
        while self._due:
            due = heapq.heappop(self._due)
            self._release(due.packet, due.after_release)
        for h in self._held:
            self._release(h.packet, h.after_release)
        self._held = []
