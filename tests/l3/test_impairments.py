"""Fidelity of the netem-class impairments: configured vs measured, one table line each.

Run with ``-s`` to see the figures. Every packet is a numbered, timestamped UDP datagram
sent 1 ms apart; sender and receiver share one clock (see `_arrivals`).
"""

from __future__ import annotations

import statistics

import pytest

from chaos.l3 import Link

from ._arrivals import arrivals
from ._shaper_skip import require_impairments
from ._udp import binomial_tolerance

require_impairments()

PACKETS = 2000


def _fraction_check(label: str, configured: float, counted: int, sent: int) -> None:
    tol = binomial_tolerance(sent, configured)
    print(f"\nL3 {label}: configured={configured:.3f} sent={sent} counted={counted} "
          f"measured={counted / sent:.4f} tolerance=+-{tol / sent:.4f} (4.5 sigma)")
    assert abs(counted - sent * configured) <= tol, (
        f"{label}: {counted} of {sent}, expected {sent * configured:.0f} +- {tol:.0f}")


def _udp_errors(link: Link) -> tuple[int, int]:
    """UDP (InErrors, InCsumErrors) inside the namespace (/proc/net/snmp is per namespace)."""
    lines = [ln.split() for ln in link.run(["cat", "/proc/net/snmp"]).stdout.splitlines()
             if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("InErrors")]), int(lines[1][lines[0].index("InCsumErrors")])


@pytest.mark.parametrize("direction", ["to_ns", "from_ns"])
def test_delay_median_and_spread_match_configured(link: Link, direction: str) -> None:
    latency, jitter = 0.100, 0.020
    link.shape("delay", {"latency_s": latency, "jitter_s": jitter}, direction)
    got = arrivals(link, direction, 1000)
    spread = statistics.pstdev(got.delays_s)
    expected_spread = jitter / 3 ** 0.5  # uniform over +-jitter
    print(f"\nL3 delay {direction:>7}: configured={latency * 1000:.0f}+-{jitter * 1000:.0f}ms "
          f"median={got.median_ms():.1f}ms p1={got.quantile_ms(0.01):.1f}ms "
          f"p99={got.quantile_ms(0.99):.1f}ms stdev={spread * 1000:.1f}ms "
          f"(uniform: {expected_spread * 1000:.1f}ms)")
    assert got.lost == 0
    assert abs(got.median_ms() - latency * 1000) <= 5
    assert got.quantile_ms(0.01) >= (latency - jitter) * 1000 - 1
    assert got.quantile_ms(0.99) <= (latency + jitter) * 1000 + 10
    assert 0.8 * expected_spread <= spread <= 1.25 * expected_spread


def test_delay_one_way_leaves_the_other_direction_alone(link: Link) -> None:
    link.shape("delay", {"latency_s": 0.2}, "to_ns")
    assert arrivals(link, "from_ns", 200, drain_s=0.3).quantile_ms(0.99) < 20
    assert arrivals(link, "to_ns", 100).median_ms() >= 199


def test_correlated_jitter_narrows_the_spread(link: Link) -> None:
    """netem's correlation: u = (1-c)*rnd + c*last, so the stdev shrinks by sqrt((1-c)/(1+c))."""
    c = 0.5
    link.shape("delay", {"latency_s": 0.1, "jitter_s": 0.04, "correlation": c}, "to_ns")
    got = arrivals(link, "to_ns", 1000)
    expected = 0.04 / 3 ** 0.5 * ((1 - c) / (1 + c)) ** 0.5
    spread = statistics.pstdev(got.delays_s)
    print(f"\nL3 delay correlation {c}: stdev={spread * 1000:.1f}ms expected="
          f"{expected * 1000:.1f}ms")
    assert 0.75 * expected <= spread <= 1.3 * expected


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_duplicate_fraction_matches_configured(link: Link, fraction: float) -> None:
    link.shape("duplicate", {"fraction": fraction}, "from_ns")
    got = arrivals(link, "from_ns", PACKETS)
    assert got.lost == 0
    _fraction_check("duplicate", fraction, got.duplicates, got.sent)


@pytest.mark.parametrize("fraction", [0.05, 0.2])
def test_corrupt_fraction_fails_the_checksum(link: Link, fraction: float) -> None:
    """A corrupted datagram is dropped by the receiver's UDP checks: it shows up as lost
    and as a UDP InError, one for one; nearly all as checksum errors (a flip in the UDP
    length field fails the length check first)."""
    errors_before, csum_before = _udp_errors(link)
    link.shape("corrupt", {"fraction": fraction}, "to_ns")
    got = arrivals(link, "to_ns", PACKETS)
    errors_after, csum_after = _udp_errors(link)
    errors, csum = errors_after - errors_before, csum_after - csum_before
    _fraction_check("corrupt", fraction, got.lost, got.sent)
    print(f"  UDP InErrors={errors} of which InCsumErrors={csum}")
    assert errors == got.lost, f"{got.lost} lost but {errors} UDP receive errors"
    assert csum >= 0.85 * got.lost


@pytest.mark.parametrize("fraction", [0.1, 0.25])
def test_reorder_fraction_matches_configured(link: Link, fraction: float) -> None:
    link.shape("reorder", {"fraction": fraction, "gap": 5}, "to_ns")
    got = arrivals(link, "to_ns", PACKETS)
    assert got.lost == 0 and got.duplicates == 0
    _fraction_check("reorder (late arrivals)", fraction, got.late, got.sent)


def test_gilbert_elliott_bursts_last_one_over_r(link: Link) -> None:
    p, r = 0.05, 0.5
    link.shape("loss", {"p": p, "r": r, "h": 0.0, "k": 1.0}, "to_ns")
    got = arrivals(link, "to_ns", 6000)
    runs = got.loss_runs()
    mean_run = sum(runs) / len(runs)
    loss = got.lost / got.sent
    print(f"\nL3 gilbert-elliott p={p} r={r}: bursts={len(runs)} mean burst={mean_run:.2f} "
          f"(1/r={1 / r:.2f}) loss={loss:.4f} (p/(p+r)={p / (p + r):.4f}) "
          f"longest={max(runs)}")
    assert abs(mean_run - 1 / r) <= 0.2 * (1 / r)
    assert abs(loss - p / (p + r)) <= 0.3 * p / (p + r)


def test_impairments_compose_and_clear_one_by_one(link: Link) -> None:
    """Overlapping kinds on one link: each set and cleared on its own, live."""
    link.shape("delay", {"latency_s": 0.05}, "to_ns")
    link.shape("duplicate", {"fraction": 0.5}, "to_ns")
    both = arrivals(link, "to_ns", 400)
    assert both.median_ms() >= 49 and both.duplicates > 100
    link.unshape("delay")
    dup_only = arrivals(link, "to_ns", 400)
    assert dup_only.median_ms() < 10 and dup_only.duplicates > 100
    assert link.shaper_pids, "a shaper still runs for the duplicate"
    link.unshape("duplicate")
    assert link.shaper_pids == [] and link.impairments("to_ns").empty
    clean = arrivals(link, "to_ns", 400)
    assert clean.duplicates == 0 and clean.lost == 0
