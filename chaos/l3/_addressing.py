"""Pick a /30 for a new link that no other run (or anything else on the host) uses.

Scheme: the pool (default ``10.213.0.0/16``, env ``SENTINEL_CHAOS_L3_POOL``) is cut
into /30s; in a /30 the root side gets ``.1`` and the namespace side ``.2``.
Collisions between concurrent runs are avoided by an exclusive ``flock`` on
``STATE_DIR/alloc.lock`` held from the scan until the addresses are on the
veth (the caller keeps the lock across creation), and the scan covers every
IPv4 address and route in the root namespace plus the state files of live
links, so a /30 is free only if nothing on the host overlaps it.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

from chaos.l3._cmd import run
from chaos.l3._errors import L3Error
from chaos.l3._names import STATE_DIR

DEFAULT_POOL = "10.213.0.0/16"


@dataclass(frozen=True)
class LinkAddresses:
    """The addresses of one link: connect to `ns_address` from the root namespace,
    to `root_address` from inside the namespace."""

    network: ipaddress.IPv4Network
    root_address: ipaddress.IPv4Address
    ns_address: ipaddress.IPv4Address

    @classmethod
    def of(cls, network: ipaddress.IPv4Network) -> LinkAddresses:
        hosts = list(network.hosts())
        return cls(network=network, root_address=hosts[0], ns_address=hosts[1])


def pool() -> ipaddress.IPv4Network:
    """The configured pool; the error names the setting."""
    raw = os.environ.get("SENTINEL_CHAOS_L3_POOL", DEFAULT_POOL)
    try:
        net = ipaddress.IPv4Network(raw)
    except ValueError as exc:
        raise L3Error(f"SENTINEL_CHAOS_L3_POOL={raw!r} is not an IPv4 network: {exc}") from exc
    if net.prefixlen > 30 or not net.is_private:
        raise L3Error(f"SENTINEL_CHAOS_L3_POOL={raw!r}: needs a private network of /30 or larger")
    return net


@contextlib.contextmanager
def allocation_lock() -> Iterator[None]:
    """Exclusive across processes: held while a link is allocated, created or swept."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(STATE_DIR / "alloc.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    used: list[ipaddress.IPv4Network] = []
    for entry in json.loads(run(["ip", "-j", "-4", "addr", "show"]) or "[]"):
        for info in entry.get("addr_info", []):
            used.append(
                ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False)
            )
    for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]) or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(dst, strict=False))
    for state in STATE_DIR.glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            used.append(ipaddress.IPv4Network(json.loads(state.read_text())["network"]))
    return used


def pick_free_network() -> LinkAddresses:
    """The first /30 of the pool that overlaps nothing in use. Call under `allocation_lock`."""
    used = _networks_in_use()
    for candidate in pool().subnets(new_prefix=30):
        if not any(candidate.overlaps(u) for u in used):
            return LinkAddresses.of(candidate)
    raise L3Error(
        f"no free /30 left in {pool()}: run `sentinel-chaos netns cleanup` "
        "or set SENTINEL_CHAOS_L3_POOL to a larger private network"
    )
