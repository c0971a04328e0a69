"""Bandwidth caps with ``tc qdisc tbf`` on the sending end of the veth.

A cap towards the namespace shapes the egress of the root-side veth, a cap
from the namespace the egress of the namespace-side veth: tbf only shapes
what leaves an interface. (netem is not in this kernel, so no delay here;
latency belongs to the L4 toxics.)
"""

from __future__ import annotations

from chaos.l3._cmd import run

MIN_BURST_BYTES = 16 * 1024
DEFAULT_LATENCY_MS = 200


def tbf_argv(dev: str, namespace: str | None, rate_kbit: int, latency_ms: int) -> list[str]:
    """`tc qdisc replace ... tbf`: burst is 20 ms worth of rate, at least 16 KiB (> GSO MTU)."""
    if rate_kbit <= 0:
        raise ValueError(f"rate_kbit {rate_kbit!r}: must be positive (None removes the cap)")
    burst = max(MIN_BURST_BYTES, rate_kbit * 1000 // 8 // 50)
    ns = ["-n", namespace] if namespace else []
    return [
        "tc", *ns, "qdisc", "replace", "dev", dev, "root", "tbf",
        "rate", f"{rate_kbit}kbit", "burst", str(burst), "latency", f"{latency_ms}ms",
    ]


def set_cap(dev: str, namespace: str | None, rate_kbit: int | None,
            latency_ms: int = DEFAULT_LATENCY_MS) -> None:
    """Cap `dev`'s egress at `rate_kbit`, or remove the cap when it is None."""
    if rate_kbit is None:
        ns = ["-n", namespace] if namespace else []
        run(["tc", *ns, "qdisc", "del", "dev", dev, "root"], check=False)
        return
    run(tbf_argv(dev, namespace, rate_kbit, latency_ms))
