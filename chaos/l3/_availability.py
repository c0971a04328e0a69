"""Can this host do L3 faults? One answer, with one line that says what is missing.

The scenario runner calls `l3_available()` and skips its L3 steps with the
reason; `Link.create()` calls `require_l3()` and raises `L3Unavailable`.
Beyond "root, ip, nft on PATH" a probe builds a throwaway namespace with an
nft numgen rule once per process, so a container without CAP_SYS_ADMIN or a
kernel without nf_tables is reported here, not in the middle of a run.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys

from chaos.l3._addressing import allocation_lock
from chaos.l3._cmd import nft, run
from chaos.l3._errors import L3Error, L3Unavailable
from chaos.l3._faults import chain_script
from chaos.l3._names import PREFIX, STATE_DIR, new_link_id

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
