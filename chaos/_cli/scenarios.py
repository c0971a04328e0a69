"""`sentinel-chaos scenarios`: the built-in scenarios, one line each."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "scenarios"


def _run(args: argparse.Namespace) -> int:
    from chaos.scenario import list_builtins

    items = list_builtins()
    width = max(len(item.name) for item in items)
    for item in items:
        print(f"{item.name:<{width}}  {item.description}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME, help="list the built-in scenarios", description=__doc__)
    parser.set_defaults(func=_run)
    return parser
