"""L3 faults: real packet loss, partitions and bandwidth caps in network namespaces.

    from chaos.l3 import l3_available, open_link

    ok, why = l3_available()
    with open_link() as link:             # namespace + veth + our nft tables
        proc = link.popen(["python", "-m", "http.server", "8000"])
        link.set_loss(0.5, "both")        # nft numgen random, per direction
        link.partition("to_ns"); link.heal()
        link.flap(on_s=1, off_s=2)        # partition on/off on a period
        link.set_bandwidth(1000, "from_ns")   # tc tbf, kbit/s
        link.shape("delay", {"latency_s": 0.3, "jitter_s": 0.02}, "both")
        link.shape("duplicate", {"fraction": 0.1}, "to_ns")   # also corrupt, reorder,
        link.unshape("delay")                 # loss (gilbert-elliott): netem or shaper
        ... connect to link.ns_address ...

See `_faults` for where the rules hook and why, `_addressing` for how the
/30 of each link is picked, `_leftovers` for the crash cleanup, `_impairments`,
`_shaper` and `_netem` for the netem-class impairments (the user-space NFQUEUE
shaper stands in where the kernel has no sch_netem).
"""

from chaos.l3._addressing import LinkAddresses
from chaos.l3._async import open_link_async
from chaos.l3._availability import (
    impairments_available,
    l3_available,
    netem_available,
    require_l3,
    shaper_available,
    tc_available,
)
from chaos.l3._errors import L3Error, L3Unavailable
from chaos.l3._faults import Direction, Faults
from chaos.l3._impairments import Delay, GilbertElliott, Impairments, Reorder
from chaos.l3._leftovers import LeftoverLink, find_leftovers, remove_leftovers
from chaos.l3._link import Link, open_link
from chaos.l3._names import NFT_TABLE_PREFIX, PREFIX

__all__ = [
    "NFT_TABLE_PREFIX",
    "PREFIX",
    "Delay",
    "Direction",
    "Faults",
    "GilbertElliott",
    "Impairments",
    "L3Error",
    "L3Unavailable",
    "LeftoverLink",
    "Link",
    "LinkAddresses",
    "Reorder",
    "find_leftovers",
    "impairments_available",
    "l3_available",
    "netem_available",
    "open_link",
    "open_link_async",
    "remove_leftovers",
    "require_l3",
    "shaper_available",
    "tc_available",
]
