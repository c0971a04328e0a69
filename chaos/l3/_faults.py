"""Loss and partition as nftables rules, and where they hook.

Hook placement (the why): a packet is always dropped on the *receiving* side
of the veth pair, in a ``prerouting`` chain at priority ``raw`` (-300) that
matches only our veth by name:

- towards the namespace: table ``inet sc_<id>`` *inside* the namespace,
  ``iifname sc-<id>n``;
- from the namespace: table ``inet sc_<id>`` in the root namespace,
  ``iifname sc-<id>r``.

Dropping on receive makes a loss look like a loss on the wire: the sender's
``send()`` succeeds and only the peer never sees the packet. Dropping in an
``output`` chain instead would hand the sender an ``EPERM`` (UDP) or a local
congestion signal (TCP), which no real network does. Priority raw runs before
conntrack, so a dropped packet never touches connection state. The ``inet``
family leaves ARP alone: a partition silences IP, neighbours stay resolved,
so a blocked ``connect()`` times out the way it does over a real dead WAN
instead of failing fast with "no route to host". Matching by interface name
keeps every other packet of the host out of our rules.

Every change is one ``nft -f`` transaction (flush chain + new rules), so a
fault changes atomically while traffic flows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

LOSS_RESOLUTION = 1_000_000
"""numgen modulus: loss is applied in steps of one in a million."""

CHAIN = "rx"


class Direction(enum.Enum):
    """Which way packets travel: into the namespace, out of it, or both."""

    TO_NS = "to_ns"
    FROM_NS = "from_ns"
    BOTH = "both"

    @classmethod
    def parse(cls, value: Direction | str) -> Direction:
        if isinstance(value, Direction):
            return value
        try:
            return cls(value.replace("-", "_"))
        except ValueError:
            names = ", ".join(d.value for d in cls)
            raise ValueError(f"direction {value!r}: expected one of {names}") from None

    @property
    def to_ns(self) -> bool:
        return self in (Direction.TO_NS, Direction.BOTH)

    @property
    def from_ns(self) -> bool:
        return self in (Direction.FROM_NS, Direction.BOTH)


@dataclass(frozen=True)
class Faults:
    """The faults in force on a link, per direction. Partition wins over loss."""

    loss_to_ns: float = 0.0
    loss_from_ns: float = 0.0
    partition_to_ns: bool = False
    partition_from_ns: bool = False

    def with_loss(self, fraction: float, direction: Direction) -> Faults:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"loss fraction {fraction!r}: must be within [0, 1]")
        out = self
        if direction.to_ns:
            out = replace(out, loss_to_ns=fraction)
        if direction.from_ns:
            out = replace(out, loss_from_ns=fraction)
        return out

    def with_partition(self, on: bool, direction: Direction) -> Faults:
        out = self
        if direction.to_ns:
            out = replace(out, partition_to_ns=on)
        if direction.from_ns:
            out = replace(out, partition_from_ns=on)
        return out

    def overlay(self, other: Faults) -> Faults:
        """The stronger of each fault (used while a flap is in its 'on' phase)."""
        return Faults(
            loss_to_ns=max(self.loss_to_ns, other.loss_to_ns),
            loss_from_ns=max(self.loss_from_ns, other.loss_from_ns),
            partition_to_ns=self.partition_to_ns or other.partition_to_ns,
            partition_from_ns=self.partition_from_ns or other.partition_from_ns,
        )


def _rule(table: str, iface: str, loss: float, partition: bool) -> str:
    if partition or loss >= 1.0:
        return f'add rule inet {table} {CHAIN} iifname "{iface}" counter drop\n'
    threshold = round(loss * LOSS_RESOLUTION)
    if threshold <= 0:
        return ""
    return (
        f'add rule inet {table} {CHAIN} iifname "{iface}" '
        f"numgen random mod {LOSS_RESOLUTION} < {threshold} counter drop\n"
    )


def chain_script(table: str, iface: str, loss: float, partition: bool) -> str:
    """One atomic nft script: create the table/chain if needed, replace its rules."""
    return (
        f"table inet {table} {{\n"
        f"  chain {CHAIN} {{\n"
        f"    type filter hook prerouting priority -300; policy accept;\n"
        f"  }}\n"
        f"}}\n"
        f"flush chain inet {table} {CHAIN}\n" + _rule(table, iface, loss, partition)
    )
