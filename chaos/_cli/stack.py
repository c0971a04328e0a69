"""`sentinel-chaos stack up`: start the stack alone, print its URLs and tokens, and keep it
up until Ctrl-C (for Locust and manual poking)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

NAME = "stack"


def _up(args: argparse.Namespace) -> int:
    from chaos.stack import LINK_NAMES, Stack, StackOptions

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    stack = Stack(StackOptions(data_dir=Path(args.data_dir) if args.data_dir else None,
                               l3_links=() if args.no_l3 else LINK_NAMES,
                               echo=lambda line: print(line, flush=True), tls=args.tls))
    try:
        stack.start()
        print("\nstack is up (Ctrl-C stops it):")
        for key, value in stack.describe().items():
            print(f"  {key:<24} {value}")
        print("\nfor Locust or sentinel-sim, e.g.:\n"
              f"  export SENTINEL_ENROLLMENT_KEY={stack.enrollment_key} "
              f"SENTINEL_VIEWER_TOKEN={stack.viewer_token} "
              f"SENTINEL_OPERATOR_TOKEN={stack.operator_token} "
              f"DATABASE_URL={stack.database_url} TOXIPROXY_URL={stack.toxiproxy_url}",
              flush=True)
        if stack.ca_file is not None:
            print(f"\nTLS: trust the throwaway CA {stack.ca_file} (removed when the stack "
                  f"stops):\n  sentinel-sim fleet --ca-file {stack.ca_file} ...   "
                  f"locust ... --ca-file {stack.ca_file}   (or SSL_CERT_FILE={stack.ca_file})",
                  flush=True)
        while not stop.wait(0.5):
            if stack.backend is not None and stack.backend.pid is None:
                print("the backend exited; stopping", file=sys.stderr)
                return 2
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        print(f"sentinel-chaos stack up: {exc}", file=sys.stderr)
        return 2
    finally:
        stack.close()
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME, help="start the stack alone (stack up) and print its URLs and tokens",
        description=__doc__)
    sub = parser.add_subparsers(dest="stack_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="start PostgreSQL, the backend, Toxiproxy and the L3 links "
                                    "until Ctrl-C", description=__doc__)
    up.add_argument("--data-dir", metavar="DIR",
                    help="keep PostgreSQL's data here (default: a throwaway temp dir)")
    up.add_argument("--no-l3", action="store_true",
                    help="do not put the links through network namespaces")
    up.add_argument("--tls", action="store_true",
                    help="serve the backend over HTTPS/WSS with a throwaway CA (its file is "
                         "printed: pass it as --ca-file)")
    up.set_defaults(func=_up)
    return parser
