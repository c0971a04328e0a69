"""The gate's judgement on plain evidence: each check fails on its own breach, with numbers."""

from __future__ import annotations

from loadtests._gate import DashboardReceipt, format_result, judge, outside_windows, percentile

ACKED = {"n1": {1: 101, 2: 102, 3: 103}, "n2": {1: 201, 2: 202}}
STORED: dict[tuple[str, int], tuple[int | None, int]] = {
    ("n1", 1): (10, 101), ("n1", 2): (11, 102), ("n1", 3): (13, 103),
    ("n2", 1): (12, 201), ("n2", 2): (14, 202),
}
ALL = frozenset(s for s, _ in STORED.values() if s is not None)


def _dash(name: str, received: frozenset[int] = ALL, gaps: int = 0) -> DashboardReceipt:
    return DashboardReceipt(name, received, gaps=gaps)


def test_clean_run_passes() -> None:
    result = judge(ACKED, STORED, [_dash("a"), _dash("b")], [5.0, 7.0, 900.0], 1000, 2)
    assert result.passed, format_result(result)
    assert format_result(result).endswith("sentinel gate: PASS")


def test_acked_but_not_stored_fails_with_the_identity() -> None:
    stored = {k: v for k, v in STORED.items() if k != ("n1", 2)}
    result = judge(ACKED, stored, [_dash("a")], [5.0], 1000, 1)
    assert result.failed == ["acked_stored"]
    text = format_result(result)
    assert "5 acked, 4 of them in the database, 1 missing (e.g. n1/2), 0 altered" in text
    assert text.endswith("sentinel gate: FAIL (acked_stored)")


def test_acked_but_stored_with_other_content_fails() -> None:
    stored = {**STORED, ("n2", 1): (12, 999)}
    result = judge(ACKED, stored, [_dash("a")], [5.0], 1000, 1)
    assert result.failed == ["acked_stored"]
    assert "0 missing, 1 altered (e.g. n2/1)" in format_result(result)


def test_dashboard_missing_a_stored_detection_fails() -> None:
    result = judge(ACKED, STORED, [_dash("a"), _dash("b", ALL - {13})], [5.0], 1000, 2)
    assert result.failed == ["dashboards"]
    assert "b=1" in format_result(result) and "lacks stream seqs 13" in format_result(result)


def test_too_few_dashboards_or_gaps_fail() -> None:
    assert judge(ACKED, STORED, [_dash("a")], [5.0], 1000, 2).failed == ["dashboards"]
    assert judge(ACKED, STORED, [_dash("a", gaps=1)], [5.0], 1000, 1).failed == ["dashboards"]


def test_unsequenced_row_counts_against_dashboards() -> None:
    stored = {**STORED, ("n2", 3): (None, 203)}
    result = judge(ACKED, stored, [_dash("a")], [5.0], 1000, 1)
    assert "dashboards" in result.failed


def test_delivery_p99_over_limit_fails_with_figures() -> None:
    latencies = [10.0] * 98 + [1500.0, 2000.0]
    result = judge(ACKED, STORED, [_dash("a")], latencies, 1000, 1)
    assert result.failed == ["delivery_p99"]
    assert "p99 1500.0 ms > 1000 ms" in format_result(result)


def test_nothing_measured_is_not_a_pass() -> None:
    result = judge({}, {}, [], [], 1000, 0)
    assert set(result.failed) == {"traffic", "delivery_p99"}


def test_fault_api_errors_fail() -> None:
    result = judge(ACKED, STORED, [_dash("a")], [5.0], 1000, 1, ["apply step 0: 404"])
    assert result.failed == ["faults"]


def test_percentile_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0


def test_outside_windows_drops_deliveries_that_touch_a_fault() -> None:
    committed = [100.0, 104.5, 109.0, 111.0]
    latencies = [10.0, 3000.0, 2000.0, 10.0]  # 104.5..107.5 and 109..111 overlap [105, 110]
    assert outside_windows(latencies, committed, [[105.0, 110.0]]) == [10.0, 10.0]
    assert outside_windows(latencies, committed, []) == latencies
