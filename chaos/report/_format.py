"""Number formatting shared by the reports (one place decides how a value reads)."""

from __future__ import annotations

from chaos.verdict.result import SloResult


def number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 and float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"


def slo_value(slo: SloResult, value: float | None) -> str:
    if value is None:
        return "n/a"
    if slo.unit == "s":
        return f"{value:.1f} s"
    if slo.unit == "ms":
        return f"{value:.0f} ms"
    return number(value)


def slo_line(slo: SloResult) -> str:
    """``lost: 1 > 0 detections (detail)``: the numbers a failure must carry."""
    relation = "<=" if slo.passed else ">"
    if slo.measured is None:
        relation = "?"
    return (f"{slo.name}: {slo_value(slo, slo.measured)} {relation} "
            f"{slo_value(slo, slo.limit)} {slo.unit if slo.unit not in ('s', 'ms') else ''}"
            .rstrip() + (f" ({slo.detail})" if slo.detail else ""))
