"""The impairments of one link, per direction, and what carries them (netem or the shaper).

Each direction has one `Impairments` value; a step sets or clears one kind of it,
and the carrier is brought in line: with netem, one ``tc qdisc replace``; with
the user-space shaper, the direction's process is started on first use, sent
the new value while it runs, and stopped once nothing is left. Egress of the
sending side in both cases: to the namespace is the root-side veth (shaper in the
root namespace), from it the namespace-side veth (shaper run in the namespace).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from chaos.l3._availability import netem_available, shaper_available
from chaos.l3._errors import L3Unavailable
from chaos.l3._faults import Direction
from chaos.l3._impairments import Impairments
from chaos.l3._names import LinkNames
from chaos.l3._netem import apply_netem
from chaos.l3._nfqueue import ShaperProcess
from chaos.l3._shaping import set_cap

ONE_WAY = (Direction.TO_NS, Direction.FROM_NS)


@functools.lru_cache(maxsize=1)
def carrier() -> str:
    """``netem`` where the kernel has it, else ``shaper``; L3Unavailable if neither."""
    if netem_available()[0]:
        return "netem"
    ok, why = shaper_available()
    if not ok:
        raise L3Unavailable(f"L3 impairments need sch_netem or the NFQUEUE shaper; {why}")
    return "shaper"


class LinkShaping:
    """Per-direction impairments of a link; `on_change` is told when shaper pids change."""

    def __init__(self, names: LinkNames, on_change: Callable[[], None]) -> None:
        self._names = names
        self._on_change = on_change
        self._now: dict[Direction, Impairments] = {d: Impairments() for d in ONE_WAY}
        self._shapers: dict[Direction, ShaperProcess] = {}
        self._caps: dict[Direction, int | None] = {d: None for d in ONE_WAY}

    def impairments(self, direction: Direction) -> Impairments:
        return self._now[direction]

    @property
    def pids(self) -> list[int]:
        return [pid for s in self._shapers.values() if (pid := s.pid) is not None]

    def _device(self, direction: Direction) -> tuple[str, str | None]:
        n = self._names
        if direction is Direction.TO_NS:
            return n.veth_root, None
        return n.veth_ns, n.namespace

    @staticmethod
    def _selected(direction: Direction) -> list[Direction]:
        return [d for d in ONE_WAY
                if (direction.to_ns if d is Direction.TO_NS else direction.from_ns)]

    def set(self, kind: str, params: Mapping[str, float], direction: Direction) -> None:
        for d in self._selected(direction):
            self._apply(d, self._now[d].with_kind(kind, params))

    def clear(self, kind: str, direction: Direction = Direction.BOTH) -> None:
        for d in self._selected(direction):
            self._apply(d, self._now[d].without_kind(kind))

    def set_cap(self, rate_kbit: int | None, direction: Direction) -> None:
        """A bandwidth cap (None removes it): tc tbf, except on a direction netem impairs
        (netem replaces tbf on its device, so the cap rides on netem's ``rate``)."""
        for d in self._selected(direction):
            self._caps[d] = rate_kbit
            dev, ns = self._device(d)
            if netem_available()[0] and not self._now[d].empty:
                apply_netem(dev, ns, self._now[d], rate_kbit)
            else:
                set_cap(dev, ns, rate_kbit)

    def _apply(self, direction: Direction, want: Impairments) -> None:
        dev, ns = self._device(direction)
        if carrier() == "netem":
            if want.empty and self._caps[direction] is not None:
                set_cap(dev, ns, self._caps[direction])  # back to plain tbf
            else:
                apply_netem(dev, ns, want, self._caps[direction])
            self._now[direction] = want
            return
        shaper = self._shapers.get(direction)
        if want.empty:
            if shaper is not None:
                del self._shapers[direction]
                shaper.stop()
                self._on_change()
        elif shaper is None:
            shaper = ShaperProcess(self._names.link_id, self._names.nft_table, dev, ns)
            shaper.start(want)
            self._shapers[direction] = shaper
            self._on_change()
        else:
            shaper.configure(want)
        self._now[direction] = want

    def close(self) -> list[str]:
        """Stop every shaper and remove their rules; the problems met (best effort)."""
        errors: list[str] = []
        for direction, shaper in list(self._shapers.items()):
            try:
                shaper.stop()
            except Exception as exc:  # best effort: the other direction must still go
                errors.append(f"shaper {direction.value}: {exc}")
            self._shapers.pop(direction, None)
        self._now = {d: Impairments() for d in ONE_WAY}
        return errors
