"""`sentinel-chaos toxiproxy`: run the embedded Toxiproxy-compatible server standalone.

A drop-in for ``toxiproxy-server``: any Toxiproxy client can drive it on ``--host:--port``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

NAME = "toxiproxy"


def _run(args: argparse.Namespace) -> int:
    from chaos.toxiproxy.server import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        serve(args.host, args.port, args.config)
    except OSError as exc:
        print(
            f"toxiproxy: cannot listen on {args.host}:{args.port}: {exc} (change --port)",
            file=sys.stderr,
        )
        return 1
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `toxiproxy` subcommand to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="run the embedded Toxiproxy-compatible server (drop-in toxiproxy-server)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8474, help="API port (default 8474)")
    parser.add_argument(
        "--config", metavar="FILE", help="JSON list of proxies to create at startup (as -config)"
    )
    parser.set_defaults(func=_run)
    return parser
