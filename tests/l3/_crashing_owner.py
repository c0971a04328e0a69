"""A run that owns a link and a process in it, then waits to be signalled or killed.

Prints ``READY <link id> <pid of the process in the namespace>`` once set up.
"""

from __future__ import annotations

import sys
import time

from chaos.l3 import open_link


def main() -> int:
    with open_link() as link:
        link.set_loss(0.5, "both")
        proc = link.popen(["sleep", "300"])
        print(f"READY {link.id} {proc.pid}", flush=True)
        time.sleep(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
