"""Find and remove what crashed runs left behind: only ours (our prefix), never a live run's.

A namespace, veth, nft table or iptables chain (the shaper's NFQUEUE hook, see
`_iptables`) is ours when its name carries our prefix; shaper processes are in
the link's state file with the other processes it started (pid + start time). It
belongs to a live run when the state file of its link id names a process
that is still running (pid and start time match); those are kept unless
`include_live` is set. Sweeping takes the allocation lock, so it never races
a link being built.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass, field

from chaos.l3 import _iptables
from chaos.l3._addressing import allocation_lock
from chaos.l3._cmd import run
from chaos.l3._names import NFT_TABLE_PREFIX, PREFIX, STATE_DIR, link_id_of
from chaos.l3._owner import owner_alive


@dataclass
class LeftoverLink:
    """What exists of one link id, and whether its owner still runs."""

    link_id: str
    namespaces: list[str] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)
    nft_tables: list[str] = field(default_factory=list)
    iptables_chains: list[str] = field(default_factory=list)
    state_file: bool = False
    owner_pid: int | None = None
    owner_alive: bool = False
    network: str | None = None
    procs: list[tuple[int, int | None]] = field(default_factory=list)

    def describe(self) -> str:
        owner = f"pid {self.owner_pid} {'running' if self.owner_alive else 'gone'}" \
            if self.owner_pid else "no owner record"
        parts = self.namespaces + self.veths + [f"nft inet {t}" for t in self.nft_tables] + [
            f"iptables {_iptables.TABLE} {c}" for c in self.iptables_chains]
        return f"{self.link_id}: {', '.join(parts) or 'state file only'} ({owner}" + (
            f", {self.network})" if self.network else ")"
        )


def _namespaces() -> list[str]:
    out = run(["ip", "-j", "netns", "list"], check=False) or "[]"
    with contextlib.suppress(ValueError):
        return [e["name"] for e in json.loads(out) if e.get("name", "").startswith(PREFIX)]
    return []


def _veths() -> list[str]:
    out = run(["ip", "-j", "link", "show"], check=False) or "[]"
    return [e["ifname"] for e in json.loads(out) if e.get("ifname", "").startswith(PREFIX)]


def _nft_tables() -> list[str]:
    out = run(["nft", "-j", "list", "tables", "inet"], check=False) or "{}"
    with contextlib.suppress(ValueError):
        return [
            item["table"]["name"]
            for item in json.loads(out).get("nftables", [])
            if "table" in item and item["table"]["name"].startswith(NFT_TABLE_PREFIX)
        ]
    return []


def _stop_procs(procs: list[tuple[int, int | None]]) -> None:
    """SIGKILL the processes a dead run started in its namespace, if they are still the same
    processes (pid and start time match), with their process group (they led one)."""
    for pid, start in procs:
        if not owner_alive(pid, start):
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


def find_leftovers() -> list[LeftoverLink]:
    """Every link id of ours that has anything in the root namespace or a state file."""
    found: dict[str, LeftoverLink] = {}

    def entry(name: str) -> LeftoverLink | None:
        link_id = link_id_of(name)
        if link_id is None:
            return None
        return found.setdefault(link_id, LeftoverLink(link_id))

    for ns in _namespaces():
        if (e := entry(ns)) is not None:
            e.namespaces.append(ns)
    for veth in _veths():
        if (e := entry(veth)) is not None:
            e.veths.append(veth)
    for table in _nft_tables():
        if (e := entry(table)) is not None:
            e.nft_tables.append(table)
    for chain in _iptables.our_root_chains():
        if (e := entry(chain)) is not None:
            e.iptables_chains.append(chain)
    if STATE_DIR.is_dir():
        for path in STATE_DIR.glob("*.json"):
            e = found.setdefault(path.stem, LeftoverLink(path.stem))
            e.state_file = True
            with contextlib.suppress(OSError, ValueError):
                state = json.loads(path.read_text())
                e.owner_pid = state.get("pid")
                e.network = state.get("network")
                e.owner_alive = owner_alive(e.owner_pid, state.get("pid_start"))
                e.procs = [(int(p[0]), p[1]) for p in state.get("procs", [])]
    return sorted(found.values(), key=lambda e: e.link_id)


def remove_leftovers(include_live: bool = False) -> list[LeftoverLink]:
    """Remove leftovers of dead runs (and of live ones if `include_live`); what was removed."""
    removed: list[LeftoverLink] = []
    with allocation_lock():
        for e in find_leftovers():
            if e.owner_alive and not include_live:
                continue
            for chain in e.iptables_chains:  # first: packets flow again before shapers die
                _iptables.remove_chain(None, chain)
            _stop_procs(e.procs)
            for table in e.nft_tables:
                run(["nft", "delete", "table", "inet", table], check=False)
            for veth in e.veths:
                run(["ip", "link", "del", veth], check=False)
            for ns in e.namespaces:
                run(["ip", "netns", "del", ns], check=False)
            with contextlib.suppress(FileNotFoundError):
                (STATE_DIR / f"{e.link_id}.json").unlink()
            removed.append(e)
    return removed
