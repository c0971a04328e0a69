"""A run that shapes both directions of a link, then waits to be signalled or killed.

Prints ``READY <link id> <shaper pid> <shaper pid>`` once both shapers run.
"""

from __future__ import annotations

import sys
import time

from chaos.l3 import open_link


def main() -> int:
    with open_link() as link:
        link.shape("delay", {"latency_s": 0.05}, "both")
        pids = " ".join(str(p) for p in link.shaper_pids)
        print(f"READY {link.id} {pids}", flush=True)
        time.sleep(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
