"""The ``sentinel-chaos`` command.

Convention for subcommands: one module per subcommand in ``chaos/_cli/<name>.py`` exposing
``register(subparsers) -> argparse.ArgumentParser``, which adds its parser with
``subparsers.add_parser(<name>, help=...)`` and sets ``func`` (``args.func(args) -> int``,
the exit code) via ``set_defaults``. Modules are found automatically (no list to edit here);
import heavy things inside ``func``, not at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

import chaos._cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel-chaos",
        description="Network-chaos test harness for the Sentinel resilient backend.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(chaos._cli.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"chaos._cli.{module_info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except BrokenPipeError:  # `sentinel-chaos scenarios | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
