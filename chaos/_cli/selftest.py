"""`sentinel-chaos selftest`: prove the harness can fail. Each planted backend fault
(``SENTINEL_FAULT_*``, see ``sentinel_backend/faults.py`` and docs/api.md) is run against
the scenario meant to expose it and must turn the verdict red on its SLO; a clean run of
the same kind must pass.

Exit code: 0 every planted fault was caught by its SLO and the clean run passed, 1 one was
not (or the clean run failed), 2 the harness itself could not run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NAME = "selftest"

#: Seconds a run may take beyond its scenario's duration and drain (stack start, judging).
RUN_SLACK_S = 150.0
#: Seconds an interrupted run gets to tear down before it is killed.
TEARDOWN_S = 60.0


@dataclass(frozen=True)
class Case:
    """One self-test run: ``env`` planted in the backend, ``catches`` the SLO that must
    fail (a name, or a prefix ending in ``:`` for one per dashboard); ``None``: a clean
    run that must pass."""

    name: str
    scenario: str
    env: Mapping[str, str] = field(default_factory=dict)
    catches: str | None = None
    default: bool = True

    @property
    def fault(self) -> str:
        return " ".join(f"{k.removeprefix('SENTINEL_FAULT_')}={v}"
                        for k, v in self.env.items()) or "none (clean)"


CASES: tuple[Case, ...] = (
    Case("clean", "selftest-steady"),
    Case("drop", "selftest-steady", {"SENTINEL_FAULT_DROP_ONE_IN": "25"}, "lost"),
    Case("stream-skip", "selftest-steady", {"SENTINEL_FAULT_STREAM_SKIP_ONE_IN": "25"},
         "missing:"),
    Case("stream-delay", "selftest-steady", {"SENTINEL_FAULT_STREAM_DELAY_MS": "1500"},
         "delivery_p99"),
    Case("ack-before-commit", "selftest-steady",
         {"SENTINEL_FAULT_ACK_BEFORE_COMMIT": "100"}, "acked_before_commit"),
    Case("stream-alter", "selftest-steady", {"SENTINEL_FAULT_STREAM_ALTER_ONE_IN": "25"},
         "altered:"),
    Case("phantom", "selftest-steady", {"SENTINEL_FAULT_PHANTOM_ONE_IN": "25"}, "phantom:"),
    Case("no-idempotency", "selftest-retry", {"SENTINEL_FAULT_NO_IDEMPOTENCY": "1"},
         "duplicated"),
    Case("blackout-undelivered", "selftest-blackout",
         {"SENTINEL_FAULT_BLACKOUT_UNDELIVERED": "1"}, "blackout_respected"),
    Case("audit-separate-tx", "selftest-crash",
         {"SENTINEL_FAULT_AUDIT_SEPARATE_TX": "2000"}, "audit_missing"),
    Case("audit-drop", "selftest-blackout", {"SENTINEL_FAULT_AUDIT_DROP_ONE_IN": "2"},
         "audit_missing"),
    # Caught only by a power cut of the database's filesystem (crash-drill, LazyFS): long
    # and privileged, so only with --only.
    Case("sync-commit-off", "crash-drill", {"SENTINEL_FAULT_SYNC_COMMIT_OFF": "1"}, "lost",
         default=False),
)


@dataclass
class Result:
    case: Case
    verdict: str          # "caught", "missed", "passed", "failed", "error"
    failed_slos: list[str]
    caught_by: str = ""
    measured: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict in ("caught", "passed")


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM: the current run was torn down, later runs were not started."""


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_command(case: Case, report_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "chaos.cli", "run", "--scenario", case.scenario,
           "--report-dir", str(report_dir), "--quiet"]
    for key, value in case.env.items():
        cmd += ["--backend-env", f"{key}={value}"]
    return cmd


def _budget_s(scenario: str) -> float:
    from chaos.scenario import resolve_scenario

    found = resolve_scenario(scenario)
    return found.duration_s + found.drain_s + RUN_SLACK_S


def _play(case: Case, report_dir: Path) -> tuple[int | None, str]:
    """Run one case as a ``sentinel-chaos run`` child; its exit code (None: timed out).
    In a session of its own, so a Ctrl-C reaches it once, from here, and it tears down."""
    budget = _budget_s(case.scenario)
    report_dir.mkdir(parents=True, exist_ok=True)
    log_path = report_dir / "run.log"
    with open(log_path, "wb") as log:
        child = subprocess.Popen(_run_command(case, report_dir), stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            return child.wait(timeout=budget), str(log_path)
        except subprocess.TimeoutExpired:
            _stop(child)
            return None, str(log_path)
        except KeyboardInterrupt:
            _stop(child)
            raise _Interrupted from None


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Let the run tear down (SIGINT, as Ctrl-C), then kill it by PID if it hangs."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGINT)
    try:
        child.wait(timeout=TEARDOWN_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)


def _slos(report_dir: Path) -> list[dict[str, Any]] | None:
    try:
        report = json.loads((report_dir / "report.json").read_text())
    except (OSError, ValueError):
        return None
    slos = report.get("slos")
    return slos if isinstance(slos, list) else None


def _measured(slo: Mapping[str, Any]) -> str:
    value = slo.get("measured")
    if value is None:
        return str(slo.get("status") or "-")
    text = f"{value:g}" if isinstance(value, float | int) else str(value)
    return f"{text} {slo.get('unit') or ''}".strip()


def judge(case: Case, code: int | None, slos: Sequence[Mapping[str, Any]] | None) -> Result:
    """What a run's exit code and SLOs say about its case."""
    if code is None:
        return Result(case, "error", [], error="timed out")
    if slos is None or code not in (0, 1):
        return Result(case, "error", [], error=f"run exited {code} without a verdict")
    failed = [str(s.get("name")) for s in slos if not s.get("passed", True)]
    if case.catches is None:
        return Result(case, "passed" if code == 0 and not failed else "failed", failed)
    hits = [s for s in slos if not s.get("passed", True)
            and _matches(str(s.get("name")), case.catches)]
    if hits:
        return Result(case, "caught", failed, caught_by=str(hits[0].get("name")),
                      measured=_measured(hits[0]))
    same = [s for s in slos if _matches(str(s.get("name")), case.catches)]
    return Result(case, "missed", failed, measured=_measured(same[0]) if same else "absent")


def _matches(name: str, catches: str) -> bool:
    return name.startswith(catches) if catches.endswith(":") else name == catches


def render_table(results: Sequence[Result]) -> str:
    rows = [("planted fault", "scenario", "expected SLO", "caught by", "measured", "verdict")]
    for r in results:
        expected = "(all pass)" if r.case.catches is None else r.case.catches
        actual = r.caught_by or (", ".join(r.failed_slos[:3]) or "-")
        verdict = r.verdict.upper() + (f" ({r.error})" if r.error else "")
        rows.append((r.case.fault, r.case.scenario, expected, actual, r.measured or "-",
                     verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def select_cases(only: Sequence[str] | None) -> list[Case]:
    """The default cases, or those named by ``--only`` (any case, also non-default)."""
    if not only:
        return [c for c in CASES if c.default]
    by_name = {c.name: c for c in CASES}
    unknown = [n for n in only if n not in by_name]
    if unknown:
        raise ValueError(f"unknown self-test case(s): {', '.join(unknown)} "
                         f"(see `sentinel-chaos selftest --list`)")
    return [by_name[n] for n in only]


def _list() -> int:
    width = max(len(c.name) for c in CASES)
    for c in CASES:
        expected = "must pass" if c.catches is None else f"caught by {c.catches}"
        extra = "" if c.default else "  (only with --only)"
        print(f"{c.name:<{width}}  {c.scenario:<18} {c.fault}: {expected}{extra}")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    try:
        cases = select_cases(args.only)
    except ValueError as exc:
        print(f"sentinel-chaos selftest: {exc}", file=sys.stderr)
        return 2
    root = Path(args.report_dir)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    results: list[Result] = []
    try:
        for index, case in enumerate(cases, 1):
            tag = f"[{index}/{len(cases)}] {case.name}"
            print(f"{tag}: start {case.scenario}, planted {case.fault}", flush=True)
            started = time.monotonic()
            log_path = ""
            try:
                code, log_path = _play(case, root / case.name)
                result = judge(case, code, _slos(root / case.name))
            except (OSError, ValueError, ImportError, LookupError) as exc:
                result = Result(case, "error", [], error=f"{type(exc).__name__}: {exc}")
            result.seconds = time.monotonic() - started
            results.append(result)
            what = (f"caught by {result.caught_by} ({result.measured})" if result.caught_by
                    else result.error or ", ".join(result.failed_slos) or "every SLO held")
            print(f"{tag}: {result.verdict} in {result.seconds:.0f} s: {what}"
                  + ("" if result.ok else f" (log: {log_path})"), flush=True)
    except (_Interrupted, KeyboardInterrupt):
        print("\ninterrupted: the current run was torn down; no self-test verdict",
              file=sys.stderr)
        return 130
    print("\n" + render_table(results))
    print(f"\nreports: {root}/<case>/")
    if any(r.verdict == "error" for r in results):
        return 2
    return 0 if all(r.ok for r in results) else 1


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME, help="run every planted backend fault against its scenario: each must be caught",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-dir", default="sentinel-chaos-selftest", metavar="DIR",
                        help="each run's reports go to DIR/<case>/ "
                             "(default ./sentinel-chaos-selftest)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this case (repeatable; see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list the cases (fault, scenario, expected SLO) and exit")
    parser.set_defaults(func=_run)
    return parser
