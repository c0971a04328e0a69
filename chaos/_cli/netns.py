"""`sentinel-chaos netns`: list, clean up and check the L3 fault layer's kernel objects.

    sentinel-chaos netns list            # our namespaces/veths/nft tables, with owner
    sentinel-chaos netns cleanup [--all] # remove leftovers of crashed runs (only ours)
    sentinel-chaos netns check           # can this host do L3 faults? (exit 0/1)

Also runs standalone: ``python -m chaos._cli.netns ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

NAME = "netns"


def _cmd_list(args: argparse.Namespace) -> int:
    from chaos.l3 import find_leftovers

    found = find_leftovers()
    if not found:
        print("no sentinel-chaos network namespaces, veths or nft tables")
    for entry in found:
        print(entry.describe())
    return 0


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from chaos.l3 import find_leftovers, l3_available, remove_leftovers

    ok, reason = l3_available()
    if not ok and "root" in reason:
        print(f"netns cleanup: {reason}", file=sys.stderr)
        return 1
    removed = remove_leftovers(include_live=args.all)
    for entry in removed:
        print(f"removed {entry.describe()}")
    kept = [e for e in find_leftovers() if e.owner_alive]
    for entry in kept:
        print(f"kept (owner running; --all to remove) {entry.describe()}")
    if not removed and not kept:
        print("nothing to clean up")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from chaos.l3 import l3_available, tc_available

    ok, reason = l3_available()
    print("L3 faults: available" if ok else reason)
    tc_ok, tc_reason = tc_available()
    if not tc_ok:
        print(tc_reason)
    return 0 if ok else 1


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `netns` subcommand (and its own subcommands) to the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="L3 fault layer: list, clean up, check network namespaces of ours",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="netns_command", required=True, metavar="COMMAND")
    p_list = sub.add_parser("list", help="list our namespaces, veths and nft tables")
    p_list.set_defaults(func=_cmd_list)
    p_clean = sub.add_parser(
        "cleanup", help="remove leftovers of crashed runs (only ours: prefix sc-/sc_)"
    )
    p_clean.add_argument(
        "--all", action="store_true",
        help="also remove links whose owning process is still running",
    )
    p_clean.set_defaults(func=_cmd_cleanup)
    p_check = sub.add_parser("check", help="say whether this host can do L3 faults")
    p_check.set_defaults(func=_cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sentinel-chaos")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args([NAME, *(sys.argv[1:] if argv is None else argv)])
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
