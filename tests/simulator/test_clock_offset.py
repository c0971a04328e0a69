"""The NTP-style clock-offset estimate, on constructed samples with a known truth."""

from __future__ import annotations

import pytest

from simulator.clock_offset import ClockSample, estimate_offset, parse_server_time

TRUE_OFFSET = 2.75  # the server's clock is 2.75 s ahead of ours


def _exchange(t_send: float, up: float, down: float, offset: float = TRUE_OFFSET) -> ClockSample:
    """A request that takes ``up`` s to the server, which stamps its time on arrival and
    answers at once, the answer taking ``down`` s back."""
    server_time = t_send + up + offset
    return ClockSample(t_send=t_send, server_time=server_time, t_recv=t_send + up + down)


def test_a_known_shift_is_found_within_the_uncertainty() -> None:
    delays = [(0.004, 0.005), (0.020, 0.003), (0.003, 0.004), (0.150, 0.150), (0.006, 0.002)]
    samples = [_exchange(1000.0 + i, up, down) for i, (up, down) in enumerate(delays)]
    est = estimate_offset(samples, keep=3)
    assert est.samples == 3
    assert abs(est.offset_s - TRUE_OFFSET) <= est.uncertainty_s
    assert est.uncertainty_s <= 0.0045  # the best round trip is 7 ms: 3.5 ms + the spread
    assert est.to_local(est.to_server(1234.5)) == pytest.approx(1234.5)
    assert est.to_local(1000.0 + TRUE_OFFSET) == pytest.approx(1000.0, abs=est.uncertainty_s)


def test_symmetric_paths_give_the_exact_offset() -> None:
    samples = [_exchange(float(i), 0.010, 0.010) for i in range(4)]
    est = estimate_offset(samples)
    assert est.offset_s == pytest.approx(TRUE_OFFSET)
    assert est.uncertainty_s == pytest.approx(0.010)


def test_asymmetric_delays_widen_the_uncertainty_not_the_estimate() -> None:
    symmetric = estimate_offset([_exchange(float(i), 0.010, 0.010) for i in range(5)])
    # a queue on the uplink only: 190 ms up, 10 ms down; the midpoint is 90 ms off the truth
    skewed = estimate_offset([_exchange(float(i), 0.190, 0.010) for i in range(5)])
    assert skewed.uncertainty_s > symmetric.uncertainty_s
    assert abs(skewed.offset_s - TRUE_OFFSET) <= skewed.uncertainty_s  # the truth stays inside
    # a few good exchanges among the skewed ones: the low round trips win, the estimate holds
    mixed = estimate_offset([
        *(_exchange(float(i), 0.190, 0.010) for i in range(20)),
        *(_exchange(100.0 + i, 0.004, 0.004) for i in range(3)),
    ], keep=3)
    assert mixed.offset_s == pytest.approx(TRUE_OFFSET)
    assert mixed.uncertainty_s == pytest.approx(0.004)


def test_a_negative_offset_and_one_sample() -> None:
    est = estimate_offset([_exchange(50.0, 0.002, 0.008, offset=-0.5)])
    assert est.samples == 1
    assert est.offset_s == pytest.approx(-0.5 - 0.003)  # midpoint: (8 - 2) / 2 ms early
    assert est.uncertainty_s == pytest.approx(0.005)
    assert abs(est.offset_s - -0.5) <= est.uncertainty_s


def test_unusable_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no clock samples"):
        estimate_offset([])
    with pytest.raises(ValueError, match="keep"):
        estimate_offset([_exchange(0.0, 0.1, 0.1)], keep=0)
    with pytest.raises(ValueError, match="before the request"):
        ClockSample(t_send=10.0, server_time=5.0, t_recv=9.0)


def test_server_time_is_read_as_the_backend_sends_it() -> None:
    assert parse_server_time("1970-01-01T00:00:10.250000+00:00") == pytest.approx(10.25)
    with pytest.raises(ValueError, match="time zone"):
        parse_server_time("1970-01-01T00:00:10")
