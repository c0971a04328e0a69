"""The same impairments with the kernel's ``sch_netem``, where the kernel has it.

netem sits on the egress of the sending veth, exactly where the user-space
shaper's NFQUEUE rule sits, and takes the same figures:

    delay 250ms 20ms 25%   duplicate 10%   corrupt 2%   reorder 10% gap 5
    loss gemodel p r 1-h 1-k          (netem's h and k are loss probabilities)
    rate <kbit>                        (a bandwidth cap on the same device)

Two differences, both netem's own: reorder needs a delay (``REORDER_BASE_DELAY``
is used when no delay step is active: the packets that are *not* reordered
wait it out), and netem replaces the tbf cap on its device, so the cap is
carried as netem's ``rate``. This path cannot be exercised on a kernel without
netem; the probe in `_availability` decides which one runs.
"""

from __future__ import annotations

from chaos.l3._cmd import run
from chaos.l3._impairments import Impairments

REORDER_BASE_DELAY_MS = 10.0


def _pct(x: float) -> str:
    return f"{x * 100:.4g}%"


def netem_parameters(imp: Impairments, rate_kbit: int | None = None) -> list[str]:
    """netem's argument list for `imp` (and a rate cap)."""
    args: list[str] = []
    if imp.delay is not None:
        d = imp.delay
        args += ["delay", f"{d.latency_s * 1000:g}ms"]
        if d.jitter_s:
            args += [f"{d.jitter_s * 1000:g}ms", _pct(d.correlation)]
    elif imp.reorder is not None:
        args += ["delay", f"{REORDER_BASE_DELAY_MS:g}ms"]
    if imp.loss is not None:
        g = imp.loss
        args += ["loss", "gemodel", _pct(g.p), _pct(g.r), _pct(1 - g.h), _pct(1 - g.k)]
    if imp.duplicate:
        args += ["duplicate", _pct(imp.duplicate)]
    if imp.corrupt:
        args += ["corrupt", _pct(imp.corrupt)]
    if imp.reorder is not None:
        args += ["reorder", _pct(imp.reorder.fraction), "gap", str(imp.reorder.gap)]
    if rate_kbit is not None:
        args += ["rate", f"{rate_kbit}kbit"]
    return args


def netem_argv(dev: str, namespace: str | None, imp: Impairments,
               rate_kbit: int | None = None) -> list[str]:
    ns = ["-n", namespace] if namespace else []
    return ["tc", *ns, "qdisc", "replace", "dev", dev, "root", "netem",
            *netem_parameters(imp, rate_kbit)]


def apply_netem(dev: str, namespace: str | None, imp: Impairments,
                rate_kbit: int | None = None) -> None:
    """Put `imp` on `dev`'s egress; no impairments (and no cap) removes the qdisc."""
    if imp.empty and rate_kbit is None:
        ns = ["-n", namespace] if namespace else []
        run(["tc", *ns, "qdisc", "del", "dev", dev, "root"], check=False)
        return
    run(netem_argv(dev, namespace, imp, rate_kbit))
