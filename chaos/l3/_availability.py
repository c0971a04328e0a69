"""Can this host do L3 faults? One answer, with one line that says what is missing.

The scenario runner calls `l3_available()` and skips its L3 steps with the
reason; `Link.create()` calls `require_l3()` and raises `L3Unavailable`.
Beyond "root, ip, nft on PATH" a probe builds a throwaway namespace with an
nft numgen rule once per process, so a container without CAP_SYS_ADMIN or a
kernel without nf_tables is reported here, not in the middle of a run.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys

from chaos.l3._addressing import allocation_lock
from chaos.l3._cmd import in_netns, nft, run
from chaos.l3._errors import L3Error, L3Unavailable
from chaos.l3._faults import chain_script
from chaos.l3._names import PREFIX, STATE_DIR, new_link_id

SHAPER_HINT = "apt-get install iptables libnetfilter-queue-dev && pip install netfilterqueue"

INSTALL_HINT = "apt-get install nftables iproute2"


def _static_check() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"L3 faults need Linux network namespaces (this is {sys.platform})"
    if os.geteuid() != 0:
        return "L3 faults need root (network namespaces, veth, nftables): run as root"
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if missing:
        return f"L3 faults need {' and '.join(missing)} on PATH: {INSTALL_HINT}"
    return None


@functools.lru_cache(maxsize=1)
def _probe() -> str | None:
    try:
        with allocation_lock():  # a concurrent `netns cleanup` must not sweep the probe away
            return _probe_locked()
    except OSError as exc:
        return (
            f"L3 faults: cannot take the lock in {STATE_DIR} ({exc}); "
            "set SENTINEL_CHAOS_L3_STATE_DIR to a writable directory"
        )


def _probe_locked() -> str | None:
    ns = f"{PREFIX}{new_link_id()}"
    try:
        run(["ip", "netns", "add", ns])
    except L3Error as exc:
        return f"L3 faults: cannot create a network namespace ({exc})"
    try:
        nft(chain_script("sc_probe", "lo", 0.5, False), namespace=ns)
    except L3Error as exc:
        return f"L3 faults: nftables numgen rule refused ({exc}); needs CONFIG_NFT_NUMGEN"
    finally:
        run(["ip", "netns", "del", ns], check=False)
    return None


def l3_available() -> tuple[bool, str]:
    """(True, "") if L3 faults work here, else (False, one line: what is missing, how to fix)."""
    reason = _static_check() or _probe()
    return (reason is None, reason or "")


def tc_available() -> tuple[bool, str]:
    """Bandwidth caps also need `tc` (iproute2) and the tbf qdisc."""
    if shutil.which("tc") is None:
        return (False, f"bandwidth caps need tc on PATH: {INSTALL_HINT}")
    return (True, "")


def require_l3() -> None:
    """Raise L3Unavailable with the reason unless L3 faults work here."""
    ok, reason = l3_available()
    if not ok:
        raise L3Unavailable(reason)


def _throwaway_namespace_probe(check: str) -> str | None:
    """Run `check` (``"netem"`` or ``"shaper"``) in a namespace made for it, under the lock."""
    from chaos.l3 import _iptables, _nfqueue

    ns = f"{PREFIX}{new_link_id()}"
    with allocation_lock():
        try:
            run(["ip", "netns", "add", ns])
        except L3Error as exc:
            return f"cannot create a network namespace ({exc})"
        try:
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            if check == "netem":
                run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                     "1ms"])
                return None
            _iptables.add_queue_chain(ns, "sc_probe", "lo", 1)
            proc = subprocess.run(in_netns(ns, _nfqueue.shaper_argv("lo", 1, probe=True)),
                                  capture_output=True, text=True, timeout=30, check=False)
            if proc.returncode != 0 or not proc.stdout.startswith("ready"):
                return f"cannot bind an NFQUEUE: {(proc.stderr or proc.stdout).strip()[-200:]}"
            return None
        except (L3Error, OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        finally:
            run(["ip", "netns", "del", ns], check=False)


@functools.lru_cache(maxsize=1)
def netem_available() -> tuple[bool, str]:
    """Does this kernel have sch_netem (``tc qdisc add ... netem`` succeeds)?"""
    if _static_check() or shutil.which("tc") is None:
        return (False, "netem needs root and tc")
    why = _throwaway_namespace_probe("netem")
    return (why is None, f"no sch_netem: {why}" if why else "")


@functools.lru_cache(maxsize=1)
def shaper_available() -> tuple[bool, str]:
    """Can the user-space shaper run here (iptables NFQUEUE target + the binding)?"""
    reason = _static_check()
    if reason is None:
        from chaos.l3._iptables import iptables_command

        if iptables_command() is None:
            reason = f"the L3 shaper needs iptables-legacy (NFQUEUE target): {SHAPER_HINT}"
        elif importlib.util.find_spec("netfilterqueue") is None:
            reason = f"the L3 shaper needs the netfilterqueue binding: {SHAPER_HINT}"
        elif (why := _throwaway_namespace_probe("shaper")) is not None:
            reason = f"the L3 shaper cannot queue packets here: {why}"
    return (reason is None, reason or "")


def impairments_available() -> tuple[bool, str]:
    """delay/duplicate/corrupt/reorder/burst loss work here (netem, else the shaper)?"""
    if netem_available()[0]:
        return (True, "")
    ok, why = shaper_available()
    return (ok, "" if ok else f"L3 impairments need sch_netem or the NFQUEUE shaper; {why}")
