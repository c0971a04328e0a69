"""`sentinel-chaos run`: start the stack, play a scenario, judge, report, tear down.

Exit code: 0 every SLO held, 1 an SLO failed, 2 the harness itself could not run (a
``--target`` whose TLS cannot be trusted included: one line names why).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from chaos.scenario.model import COVERAGE_PATHS
from simulator.tls import INSECURE_WARNING, TlsOptions, add_tls_arguments

NAME = "run"


def _duration(text: str) -> float:
    from chaos.scenario import parse_duration

    try:
        return parse_duration(text)
    except Exception as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _paths(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in COVERAGE_PATHS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown recovery path {', '.join(unknown)}; known: {', '.join(COVERAGE_PATHS)}")
    return names


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _choose_containers(args: argparse.Namespace) -> str | None:
    """Hand ``--postgres`` / ``--toxiproxy`` to the stack (through its environment
    variables); the one-line reason when Docker is asked for and cannot be used."""
    from chaos.stack._containers import (
        POSTGRES_ENV,
        TOXIPROXY_ENV,
        DockerUnavailable,
        require_docker,
    )

    if "docker" in (args.postgres, args.toxiproxy):
        try:
            require_docker()
        except DockerUnavailable as exc:
            return str(exc)
    os.environ[POSTGRES_ENV] = args.postgres
    os.environ[TOXIPROXY_ENV] = args.toxiproxy
    return None


def _run(args: argparse.Namespace) -> int:
    from chaos._secrets import install_log_redaction, redact
    from chaos.runner import RunOptions, run_scenario
    from chaos.scenario import ScenarioError, resolve_scenario
    from chaos.verdict import EXIT_HARNESS_ERROR

    install_log_redaction()  # every log line of the harness, the fleet included
    if args.tls and args.target:
        print("sentinel-chaos run: --tls is for the embedded stack; a --target says its own "
              "scheme (https://...)", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    tls = TlsOptions.from_namespace(args)
    if tls.insecure:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    refused = _choose_containers(args)
    if refused is not None:
        print(refused, file=sys.stderr)
        return EXIT_HARNESS_ERROR
    try:
        scenario = resolve_scenario(args.scenario)
    except ScenarioError as exc:
        print(f"sentinel-chaos run: {exc}", file=sys.stderr)
        return EXIT_HARNESS_ERROR
    scenario = scenario.with_overrides(nodes=args.nodes, dashboards=args.dashboards,
                                       duration_s=args.duration)
    if args.require_exercised:
        required = tuple(dict.fromkeys([*scenario.slos.require_exercised,
                                        *args.require_exercised]))
        scenario = replace(scenario, slos=replace(scenario.slos, require_exercised=required))
    if not args.quiet:
        print(f"scenario: {scenario.name} ({scenario.duration_s:g}s + drain up to "
              f"{scenario.drain_s:g}s, {len(scenario.steps)} steps): {scenario.description}",
              flush=True)
    options = RunOptions(scenario=scenario, report_dir=Path(args.report_dir),
                         junit_path=Path(args.junit) if args.junit else None,
                         target=args.target,
                         data_dir=Path(args.data_dir) if args.data_dir else None,
                         state_dir=Path(args.state_dir) if args.state_dir else None,
                         backend_env=dict(args.backend_env or ()), quiet=args.quiet,
                         tls=tls, stack_tls=args.tls)
    # SIGTERM (CI cancelling the job) tears down like Ctrl-C: faults reverted, processes
    # stopped by PID, namespaces removed.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcome = asyncio.run(run_scenario(options))
    except KeyboardInterrupt:
        print("\ninterrupted: everything was torn down; no verdict", file=sys.stderr)
        return 130
    if outcome.published is None:
        print(f"ERROR  {scenario.name}: {redact(outcome.error or '')}", file=sys.stderr)
        return outcome.exit_code
    print("\n" + outcome.published.summary)
    paths = outcome.published.paths
    print(f"\nreports: {paths.report_json}, {paths.index_html}, JUnit {paths.junit_xml}")
    return outcome.exit_code


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME, help="run a chaos scenario against the embedded stack (or --target) and judge it",
        description=__doc__)
    parser.add_argument("--scenario", metavar="NAME|FILE", default=None,
                        help="a built-in name (see `sentinel-chaos scenarios`) or a YAML file "
                             "(default: smoke)")
    parser.add_argument("--nodes", type=int, help="override the scenario's edge nodes")
    parser.add_argument("--dashboards", type=int, help="override the scenario's dashboards")
    parser.add_argument("--duration", type=_duration, metavar="D",
                        help="override how long the fleet generates (e.g. 20s, 1m)")
    parser.add_argument("--report-dir", default="sentinel-chaos-report", metavar="DIR",
                        help="where report.json, index.html, evidence.json go "
                             "(default ./sentinel-chaos-report)")
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML here")
    parser.add_argument("--target", metavar="URL",
                        help="aim the fleet at this backend instead of the embedded stack "
                             "(tokens from SENTINEL_ENROLLMENT_KEY / SENTINEL_VIEWER_TOKEN / "
                             "SENTINEL_OPERATOR_TOKEN; stored set from DATABASE_URL if set)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="keep the embedded PostgreSQL's data here (default: throwaway)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where the fleet's state (outboxes, ledger, node tokens) is kept, "
                             "one private sub-directory per run, never inside the report "
                             "directory (default $XDG_STATE_HOME/sentinel-chaos/runs, else "
                             "~/.local/state/sentinel-chaos/runs)")
    parser.add_argument("--backend-env", type=_setting, action="append", metavar="KEY=VALUE",
                        help="an extra setting for the embedded backend, repeatable; e.g. a "
                             "planted fault for a self-test: SENTINEL_FAULT_DROP_ONE_IN=25")
    parser.add_argument("--postgres", choices=("embedded", "docker"), default="embedded",
                        help="PostgreSQL from the embedded wheel (default) or the official "
                             "image via testcontainers (needs Docker and the docker extra)")
    parser.add_argument("--toxiproxy", choices=("embedded", "docker"), default="embedded",
                        help="Toxiproxy as a local process (default) or the "
                             "ghcr.io/shopify/toxiproxy image via testcontainers")
    parser.add_argument("--require-exercised", type=_paths, metavar="PATH,...",
                        help="recovery paths the run must take, or fail (added to the "
                             "scenario's require_exercised): " + ", ".join(COVERAGE_PATHS))
    parser.add_argument("--quiet", action="store_true",
                        help="no startup lines or live view; only the summary")
    parser.add_argument("--tls", action="store_true",
                        help="the embedded stack serves HTTPS/WSS with a throwaway CA, which "
                             "the fleet, dashboards and evidence clients trust")
    add_tls_arguments(parser)  # for an https:// --target
    parser.set_defaults(func=_run)
    return parser
