"""Measured loss matches configured loss, per direction, within a binomial tolerance.

Run with ``-s`` to see the figures. At 0% nothing may be lost (this also
proves the pacing leaves no socket-buffer drops that could pass for loss).
"""

from __future__ import annotations

import pytest

from chaos.l3 import Link

from ._udp import Measured, binomial_tolerance, one_way, round_trip

PACKETS = 2000
LEVELS = [0.0, 0.10, 0.50, 0.90]


def _check(measured: Measured, p: float, label: str) -> None:
    tol = binomial_tolerance(measured.sent, p)
    expected = measured.sent * p
    print(
        f"\nL3 loss {label}: configured={p:.2f} sent={measured.sent} lost={measured.lost} "
        f"measured={measured.loss:.4f} tolerance=+-{tol / measured.sent:.4f} (4.5 sigma)"
    )
    if p == 0.0:
        assert measured.lost == 0, f"{label}: lost {measured.lost} packets with no loss set"
    else:
        assert abs(measured.lost - expected) <= tol, (
            f"{label}: lost {measured.lost} of {measured.sent}, expected {expected:.0f}"
            f" +- {tol:.0f}"
        )


@pytest.mark.parametrize("p", LEVELS)
@pytest.mark.parametrize("direction", ["to_ns", "from_ns"])
def test_one_way_loss_matches_configured(link: Link, direction: str, p: float) -> None:
    other = "from_ns" if direction == "to_ns" else "to_ns"
    link.set_loss(p, direction)
    measured = one_way(link, direction, PACKETS)
    _check(measured, p, f"{direction:>7}")
    # the other direction is untouched
    assert one_way(link, other, 200).lost == 0


@pytest.mark.parametrize("p", LEVELS)
def test_both_ways_loss_compounds_on_a_round_trip(link: Link, p: float) -> None:
    """Echo round trips cross the link twice: P(lost) = 1 - (1 - p)^2."""
    link.set_loss(p, "both")
    measured = round_trip(link, PACKETS)
    _check(measured, 1 - (1 - p) ** 2, f"both (round trip, p={p:.2f} each way)")


def test_loss_changes_while_traffic_flows(link: Link) -> None:
    """Loss set, changed and cleared on the same sockets' link, no rebuild."""
    link.set_loss(0.5, "to_ns")
    assert one_way(link, "to_ns", 400).lost > 0
    link.set_loss(0.0, "to_ns")
    assert one_way(link, "to_ns", 400).lost == 0
    link.set_loss(1.0, "to_ns")
    assert one_way(link, "to_ns", 100).received == 0
    link.heal()
    assert one_way(link, "to_ns", 400).lost == 0
