"""Names of everything the L3 layer creates, in one place.

Every namespace, veth and nftables table carries our prefix so that
`sentinel-chaos netns cleanup` can find leftovers of crashed runs and touch
nothing else. Interface names must fit IFNAMSIZ (15 usable bytes):
``sc-`` + 6 hex digits + one side letter is 10.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sc-"
"""Prefix of our namespaces and veth interfaces."""

NFT_TABLE_PREFIX = "sc_"
"""Prefix of our nftables tables (nft identifiers may not contain '-')."""

IFNAMSIZ_USABLE = 15

STATE_DIR = Path(os.environ.get("SENTINEL_CHAOS_L3_STATE_DIR", "/run/sentinel-chaos/l3"))
"""Where live links record their owner (pid) and addresses; also holds the allocation lock."""


def new_link_id() -> str:
    """A short random id; random (not a counter) so a crashed run's names are never reused."""
    return secrets.token_hex(3)


@dataclass(frozen=True)
class LinkNames:
    """The kernel object names of one link."""

    link_id: str

    @property
    def namespace(self) -> str:
        return f"{PREFIX}{self.link_id}"

    @property
    def veth_root(self) -> str:
        """The veth end that stays in the root namespace."""
        return f"{PREFIX}{self.link_id}r"

    @property
    def veth_ns(self) -> str:
        """The veth end moved into the link's namespace."""
        return f"{PREFIX}{self.link_id}n"

    @property
    def nft_table(self) -> str:
        """Our table's name, the same in the root namespace and in the link's namespace."""
        return f"{NFT_TABLE_PREFIX}{self.link_id}"

    def __post_init__(self) -> None:
        if not self.link_id.isalnum() or len(self.veth_root) > IFNAMSIZ_USABLE:
            raise ValueError(f"bad link id {self.link_id!r}: alphanumeric, at most 11 chars")


def link_id_of(name: str) -> str | None:
    """The link id in one of our names (namespace, veth or nft table), else None."""
    for prefix in (PREFIX, NFT_TABLE_PREFIX):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            if rest and rest[-1] in "rn" and len(rest) == 7:
                rest = rest[:-1]
            return rest or None
    return None
