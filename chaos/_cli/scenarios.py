"""`sentinel-chaos scenarios`: the built-in scenarios, what each does and what it exercises.

Each line: the name and description; below it the kinds of its steps (what it breaks) and
the recovery paths it requires to have been taken (``require_exercised``), so a reader
knows which green SLOs of that scenario were really put to the test.
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "scenarios"


def _steps(kinds: list[str]) -> str:
    """Step kinds in timeline order, each once: ``toxic, cut, kill_backend``."""
    return ", ".join(dict.fromkeys(kinds)) or "none (steady traffic)"


def _run(args: argparse.Namespace) -> int:
    from chaos.scenario import builtin_names, load_builtin

    scenarios = [load_builtin(name) for name in builtin_names()]
    width = max(len(s.name) for s in scenarios)
    pad = " " * (width + 2)
    for s in scenarios:
        print(f"{s.name:<{width}}  {s.description}")
        if args.brief:
            continue
        print(f"{pad}steps: {_steps([step.kind for step in s.steps])}; "
              f"{s.duration_s:g}s, {s.fleet.nodes} nodes, {s.fleet.dashboards} dashboards")
        required = ", ".join(s.slos.require_exercised) or "none"
        print(f"{pad}requires exercised: {required}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME, help="list the built-in scenarios and what each exercises", description=__doc__)
    parser.add_argument("--brief", action="store_true",
                        help="one line per scenario (name and description only)")
    parser.set_defaults(func=_run)
    return parser
