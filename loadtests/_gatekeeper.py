"""Wires the gate into Locust's events: start head at test start, judgement at test stop.

On a standalone runner or a master the gate runs at ``test_stop``: it clears the fault
timeline, gathers the fleet's evidence (``_fleet``), reads back what the database stored
for this run's nodes, lets every dashboard drain to the last stored event, judges
(``_gate.judge``), prints the result and sets ``environment.process_exit_code`` (1 on any
breach, 0 on a pass: HTTP failures during injected faults are expected and retried, the
gate is the verdict).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import gevent
from locust.runners import MasterRunner, WorkerRunner

from loadtests._backend import stored_detections, stream_head
from loadtests._evidence import forget
from loadtests._fleet import LocalFleet, MasterFleet, install_worker_handlers, say_hello
from loadtests._gate import (
    DashboardReceipt,
    GateCheck,
    GateResult,
    format_result,
    judge,
    outside_windows,
    percentile,
)
from loadtests._http import HttpError
from loadtests._options import RunOptions, add_arguments
from loadtests.shape import player_for
from loadtests.users import DashboardUser

__all__ = ["install"]

log = logging.getLogger("loadtests.gate")

_FLEETS: dict[int, LocalFleet | MasterFleet] = {}
SETTLE_TIMEOUT_S = 5.0


def _on_init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if environment.parsed_options is not None:
        DashboardUser.fixed_count = max(int(environment.parsed_options.dashboards), 0)
    if isinstance(runner, WorkerRunner):
        install_worker_handlers(environment)
    elif isinstance(runner, MasterRunner):
        _FLEETS[id(environment)] = MasterFleet(environment)
    elif runner is not None:
        _FLEETS[id(environment)] = LocalFleet(environment)


def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        forget(environment)
        say_hello(environment)
        return
    opts = RunOptions.from_environment(environment)
    head = stream_head(opts)
    log.info("gate: stream head at start %s", head)
    fleet = _FLEETS.get(id(environment))
    if isinstance(fleet, MasterFleet):
        fleet.reset(head)
    else:
        forget(environment).set_start(head)
        _FLEETS[id(environment)] = LocalFleet(environment)


def _settled_store(opts: RunOptions, nodes: list[str],
                   notes: list[str]) -> dict[tuple[str, int], tuple[int | None, int]]:
    """Stored rows of the run's nodes, once the backend is quiet.

    After the users stop, a loaded backend may still be committing requests it accepted
    (a killed user's batch, its ingest queue) and the sequencer still stamping them: read
    until two reads 0.5 s apart agree and every row has its stream seq (bounded by
    ``--drain-timeout``), so the gate judges the final state, not a moving one.
    """
    started = time.monotonic()
    deadline = started + max(opts.drain_timeout, SETTLE_TIMEOUT_S)
    previous = -1
    while True:
        stored = stored_detections(opts, nodes)
        settled = len(stored) == previous and all(s is not None for s, _ in stored.values())
        if settled or time.monotonic() > deadline:
            notes.append(f"settle: {len(stored)} stored rows of this run, "
                         f"{'quiet' if settled else 'STILL CHANGING'} after "
                         f"{time.monotonic() - started:.1f}s")
            return stored
        previous = len(stored)
        gevent.sleep(0.5)


def _judge_fleet(environment: Any, opts: RunOptions) -> tuple[GateResult, list[str]]:
    fleet = _FLEETS[id(environment)]
    notes: list[str] = []
    player = player_for(environment)
    if player is not None:
        player.finish()
    collected = fleet.collect(timeout=30)
    acked: dict[str, dict[int, int]] = {}
    for process, report in sorted(collected.items()):
        seqs = sum(len(v) for v in report["acked"].values())
        acked_nodes = sum(1 for v in report["acked"].values() if v)
        notes.append(f"fleet: process {process} reported {len(report['acked'])} nodes "
                     f"({acked_nodes} with acks), {seqs} acked identities, "
                     f"{report['dashboards']} dashboards, counters {report['counters']}")
        for node, pairs in report["acked"].items():
            acked.setdefault(node, {}).update((int(seq), int(h)) for seq, h in pairs)
    notes.append(f"fleet: {len(collected)} processes, {len(acked)} nodes, "
                 f"{sum(len(s) for s in acked.values())} acked identities in total")
    stored = _settled_store(opts, sorted(acked), notes)
    sequenced = [s for s, _ in stored.values() if s is not None]
    target = max(sequenced, default=0)
    drained = fleet.drain(target, opts.drain_timeout)
    receipts: list[DashboardReceipt] = []
    latencies: list[float] = []
    committed: list[float] = []
    for process, report in sorted(drained.items()):
        latencies.extend(float(x) for x in report["latencies_ms"])
        committed.extend(float(t) for t in report["committed_at"])
        for dash in report["dashboards"]:
            receipts.append(DashboardReceipt(
                f"{process}/{dash['name']}", frozenset(dash["received"]),
                int(dash["duplicates"]), int(dash["gaps"]), int(dash["reconnects"]),
            ))
            if dash.get("fatal"):
                notes.append(f"dashboard {dash['name']} gave up: {dash['fatal']}")
    notes.append(f"drain: to stream seq {target}, reconnects "
                 f"{sum(r.reconnects for r in receipts)}")
    faults = player.summary() if player is not None else {"steps": 0, "errors": []}
    notes.append(f"faults: {faults['steps']} steps from {opts.scenario or 'no scenario'}")
    errors = [str(e) for e in faults["errors"]] if isinstance(faults["errors"], list) else []
    expected = opts.dashboards if opts.dashboards > 0 else 0
    windows = faults.get("windows", [])
    result = judge(acked, stored, receipts, latencies, opts.max_delivery_p99_ms, expected,
                   errors)
    quiet = outside_windows(latencies, committed, windows if isinstance(windows, list) else [])
    result.figures["p99_outside_faults_ms"] = percentile(quiet, 99)
    result.figures["deliveries_outside_faults"] = len(quiet)
    notes.append(f"delivery outside fault windows: p99 {percentile(quiet, 99):.1f} ms, "
                 f"n={len(quiet)} (inside or across a window: {len(latencies) - len(quiet)})")
    result.checks.append(GateCheck(
        "evidence", not fleet.silent,
        f"{len(collected)} processes answered" + (
            f"; no answer from {', '.join(fleet.silent)}: their nodes and dashboards are "
            "unaccounted for" if fleet.silent else ""),
    ))
    result.figures["processes"] = sorted(collected)
    result.figures["faults"] = faults
    return result, notes


def _on_test_stop(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = RunOptions.from_environment(environment)
    if not opts.gate:
        return
    try:
        result, notes = _judge_fleet(environment, opts)
    except (HttpError, KeyError, ValueError) as exc:
        print(f"=== sentinel gate ===\n[FAIL] evidence      could not gather the evidence: {exc}"
              "\nsentinel gate: FAIL (evidence)", flush=True)
        environment.process_exit_code = 1
        return
    print("\n".join(notes), flush=True)
    print(format_result(result), flush=True)
    environment.process_exit_code = 0 if result.passed else 1
    if opts.gate_report:
        figures = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                   for k, v in result.figures.items()}
        report = {
            "passed": result.passed,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail}
                       for c in result.checks],
            "figures": figures, "notes": notes,
        }
        Path(opts.gate_report).write_text(json.dumps(report, indent=2, default=str))


def install(events: Any) -> None:
    """Attach the options, the evidence handshake and the gate to Locust's events."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
