"""``clock_skew``: some nodes' clocks are wrong (no GPS fix, no NTP) while the step lasts.

The chosen nodes write ``captured_at`` ``offset`` off the true time (``2h`` ahead, ``-90s``
behind). Nothing may be lost or refused because of it; the fleet's ledger records the
offset per detection, so the end-to-end latency is still judged from the true generation
time rather than from the wrong clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from chaos.scenario._durations import format_offset, parse_offset
from chaos.scenario._yaml import Field
from chaos.scenario.context import FLEET_CLOCKS, FleetClocks, StepContext
from chaos.scenario.steps._base import Action, Link
from chaos.scenario.steps.blackout import Blackout

#: Node ids named in ``describe()`` at most (a share of a big fleet is thousands).
_NAMED_MAX = 4


@dataclass(frozen=True)
class ClockSkew(Action):
    kind = "clock_skew"
    capability = FLEET_CLOCKS
    summary = ("nodes' clocks wrong by offset (share: 0.25 or nodes: [...], "
               "offset: 2h or -90s)")

    share: float | None
    nodes: tuple[str, ...]
    offset_s: float

    @classmethod
    def parse(cls, params: Field, link: Link | None) -> Self:
        params.only(("share", "nodes", "offset"))
        offset = params.require("offset")
        try:
            offset_s = parse_offset(offset.value())
        except ValueError:
            raise offset.error(f"expected an offset like '2h', '-90s' or '1h30m', "
                               f"got {offset.describe()}") from None
        if offset_s == 0:
            raise offset.error("an offset of 0 skews nothing: give one like '2h' or '-90s'")
        share = params.get("share")
        nodes = params.get("nodes")
        if (share is None) == (nodes is None):
            raise params.error("give exactly one of 'share' (0..1) or 'nodes' (a list)")
        if share is not None:
            return cls(share=share.fraction(), nodes=(), offset_s=offset_s)
        assert nodes is not None
        names = tuple(item.text() for item in nodes.elements())
        if not names:
            raise nodes.error("expected at least one node id")
        return cls(share=None, nodes=names, offset_s=offset_s)

    def targets(self, node_ids: Sequence[str]) -> list[str]:
        """The skewed nodes: listed ones, or every k-th node (as ``blackout`` picks them)."""
        return Blackout(share=self.share, nodes=self.nodes).targets(node_ids)

    async def start(self, ctx: StepContext) -> None:
        await _clocks(ctx).set_clock_skew(self.targets(ctx.fleet.node_ids), self.offset_s)

    async def stop(self, ctx: StepContext) -> None:
        await _clocks(ctx).clear_clock_skew(self.targets(ctx.fleet.node_ids))

    def exclusive(self) -> str | None:
        return "the nodes' clocks"  # the first one's stop would set the other's nodes right

    def describe(self) -> str:
        offset = format_offset(self.offset_s)
        if self.share is not None:
            return f"clocks {offset} on {self.share:.0%} of nodes"
        named = ", ".join(self.nodes[:_NAMED_MAX])
        more = f" +{len(self.nodes) - _NAMED_MAX} more" if len(self.nodes) > _NAMED_MAX else ""
        return f"clocks {offset} on {named}{more}"


def _clocks(ctx: StepContext) -> FleetClocks:
    """``ctx.fleet`` as ``FleetClocks`` (the player skips the step where it is not)."""
    if not isinstance(ctx.fleet, FleetClocks):
        raise RuntimeError("this run's fleet cannot set its nodes' clocks")
    return ctx.fleet


STEP = ClockSkew
