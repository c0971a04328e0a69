"""The xtables rules that hand a veth's egress to a shaper (``-j NFQUEUE``).

nftables has no ``queue`` expression on every kernel, while the xtables NFQUEUE
target is older and widely built; so these few rules use iptables, the legacy
backend when both exist (``iptables-legacy``), in a chain of our own named like
the link's nft table (``sc_<id>``) in table ``mangle``:

    -A POSTROUTING -o <veth> -j sc_<id>
    -A sc_<id> -m mark --mark <ours> -j RETURN      # the shaper's own duplicates
    -A sc_<id> -j NFQUEUE --queue-num N --queue-bypass

``POSTROUTING`` is the sender's egress, where netem sits too. ``--queue-bypass``
lets packets through while no shaper is bound, so a shaper that dies never
turns into a partition. Rules in the link's namespace vanish with it; the ones in
the root namespace are found by `our_root_chains` and removed by `remove_chain`.
"""

from __future__ import annotations

import functools
import shutil

from chaos.l3._cmd import in_netns, run
from chaos.l3._names import NFT_TABLE_PREFIX

TABLE = "mangle"
HOOK = "POSTROUTING"
SHAPER_MARK = 0x5C0DE
WAIT_S = "5"


@functools.lru_cache(maxsize=1)
def iptables_command() -> str | None:
    """``iptables-legacy`` if present, else ``iptables`` when it is the legacy backend."""
    if shutil.which("iptables-legacy"):
        return "iptables-legacy"
    if shutil.which("iptables") and "legacy" in run(["iptables", "--version"], check=False):
        return "iptables"
    return None


def _ipt(namespace: str | None, *args: str, check: bool = True) -> str:
    tool = iptables_command()
    if tool is None:
        from chaos.l3._errors import L3Unavailable

        raise L3Unavailable("the L3 shaper needs iptables-legacy: apt-get install iptables")
    return run(in_netns(namespace, [tool, "-w", WAIT_S, "-t", TABLE, *args]), check=check)


def add_queue_chain(namespace: str | None, chain: str, device: str, queue: int) -> None:
    """Create `chain`, send `device`'s egress through it to NFQUEUE `queue`."""
    remove_chain(namespace, chain, device)
    _ipt(namespace, "-N", chain)
    _ipt(namespace, "-A", chain, "-m", "mark", "--mark", hex(SHAPER_MARK), "-j", "RETURN")
    _ipt(namespace, "-A", chain, "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass")
    _ipt(namespace, "-A", HOOK, "-o", device, "-j", chain)


def remove_chain(namespace: str | None, chain: str, device: str | None = None) -> None:
    """Unhook and delete `chain` (best effort: each part may already be gone)."""
    if device is not None:
        _ipt(namespace, "-D", HOOK, "-o", device, "-j", chain, check=False)
    else:
        for line in _ipt(namespace, "-S", HOOK, check=False).splitlines():
            parts = line.split()
            if parts[:2] == ["-A", HOOK] and parts[-2:] == ["-j", chain]:
                _ipt(namespace, "-D", *parts[1:], check=False)
    _ipt(namespace, "-F", chain, check=False)
    _ipt(namespace, "-X", chain, check=False)


def our_root_chains() -> list[str]:
    """Our chains in the root namespace's mangle table (any link id, live or not)."""
    if iptables_command() is None:
        return []
    out = _ipt(None, "-S", check=False)
    return [line.split()[1] for line in out.splitlines()
            if line.startswith("-N ") and line.split()[1].startswith(NFT_TABLE_PREFIX)]
