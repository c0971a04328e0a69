"""Wires the gate into Locust's events: start head at test start, judgement at test stop.

On a standalone runner or a master the gate runs at ``test_stop``: it clears the fault
timeline, gathers the fleet's evidence (``_fleet``: every process flushes its outboxes and
reports what its edge nodes generated), reads back what the database stored for this run's
nodes, lets every dashboard drain to the last stored event, reads the stream of the run's
window and the audit rows of its nodes (with ``--database-url``), builds the verdict's
``Evidence`` and judges it with ``chaos.verdict.compute_verdict`` against the scenario's
SLOs (``_gate``), prints the result and sets ``environment.process_exit_code`` (1 on a
failed SLO or a harness error, 0 on a pass: HTTP failures during injected faults are
expected and retried, the verdict is what counts). Before any of it, at init, the TLS
targets are preflighted (``_tls``): one that does not verify ends the run with exit 2.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg
import gevent
from locust.runners import MasterRunner, WorkerRunner

from chaos import install_log_redaction
from chaos.scenario import Scenario, resolve_scenario
from chaos.verdict import Evidence, StoredDetection, Verdict
from loadtests._backend import read_run_rows, read_stored_rows, stream_head
from loadtests._evidence import evidence_for, forget
from loadtests._fleet import LocalFleet, MasterFleet, install_worker_handlers, say_hello
from loadtests._gate import FleetReports, fault_windows, gate_slos, judge_run
from loadtests._gate_report import exit_status, format_verdict, gate_figures, write_gate_report
from loadtests._http import HttpError
from loadtests._options import RunOptions, add_arguments
from loadtests._tls import preflight_or_exit
from loadtests.shape import player_for
from loadtests.users import DashboardUser

__all__ = ["install"]

log = logging.getLogger("loadtests.gate")

_FLEETS: dict[int, LocalFleet | MasterFleet] = {}
_STARTED_AT: dict[int, float] = {}
_START_HEAD: dict[int, int | None] = {}
SETTLE_TIMEOUT_S = 5.0


def _on_init(environment: Any, **_: Any) -> None:
    # Locust logs request names and errors that may carry a ?token=: masked at the source.
    install_log_redaction()
    runner = environment.runner
    if environment.parsed_options is not None:
        DashboardUser.fixed_count = max(int(environment.parsed_options.dashboards), 0)
    if environment.parsed_options is not None and not isinstance(runner, WorkerRunner):
        # workers get the master's options with the spawn message; the master checks
        opts = RunOptions.from_environment(environment)
        preflight_or_exit(opts.tls_targets, opts.tls)
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
    _STARTED_AT[id(environment)] = time.time()
    head = stream_head(opts)
    _START_HEAD[id(environment)] = head
    log.info("gate: stream head at start %s", head)
    fleet = _FLEETS.get(id(environment))
    if isinstance(fleet, MasterFleet):
        fleet.reset(head)
    else:
        forget(environment).set_start(head)
        _FLEETS[id(environment)] = LocalFleet(environment)


def _settled_store(opts: RunOptions, nodes: list[str], budget_s: float,
                   notes: list[str]) -> tuple[list[StoredDetection], str]:
    """Stored rows of the run's nodes, once the backend is quiet, and ``commit_times``.

    After the users stop, a loaded backend may still be committing requests it accepted
    (a killed user's batch, its ingest queue) and the sequencer still stamping them: read
    until two reads 0.5 s apart agree and every row has its stream seq (bounded by the
    drain budget), so the gate judges the final state, not a moving one.
    """
    started = time.monotonic()
    deadline = started + max(budget_s, SETTLE_TIMEOUT_S)
    previous = -1
    while True:
        stored, commit_times = read_stored_rows(opts, nodes)
        settled = len(stored) == previous and all(s.stream_seq is not None for s in stored)
        if settled or time.monotonic() > deadline:
            notes.append(f"settle: {len(stored)} stored rows of this run "
                         f"({'database' if opts.database_url else 'API'}), "
                         f"{'quiet' if settled else 'STILL CHANGING'} after "
                         f"{time.monotonic() - started:.1f}s; commit times {commit_times}")
            return stored, commit_times
        previous = len(stored)
        gevent.sleep(0.5)


def _fleet_notes(collected: dict[str, dict[str, Any]], notes: list[str]) -> list[str]:
    """One line per process (what it reported), one for the fleet; the run's node ids."""
    nodes: set[str] = set()
    acked = 0
    for process, report in sorted(collected.items()):
        nodes.update(report["nodes"])
        acked += int(report["acked"])
        notes.append(f"fleet: process {process} reported {len(report['nodes'])} nodes "
                     f"({report['acked_nodes']} with acks), {report['acked']} acked "
                     f"identities, {len(report['generated'])} generated, "
                     f"{report['unsent']} unsent after the final flush, "
                     f"{report['dashboards']} dashboards, counters {report['counters']}")
    notes.append(f"fleet: {len(collected)} processes, {len(nodes)} nodes, "
                 f"{acked} acked identities in total")
    return sorted(nodes)


def _dashboard_errors(drained: dict[str, dict[str, Any]], expected: int) -> list[str]:
    """Too few dashboards is the harness's fault (one that gave up, the verdict reports)."""
    reported = sum(len(report["dashboards"]) for report in drained.values())
    if reported < expected:
        return [f"{reported} dashboards reported, {expected} asked for (--dashboards): "
                "the missing ones proved nothing"]
    return []


def _judge_fleet(environment: Any, opts: RunOptions
                 ) -> tuple[Evidence, Verdict, dict[str, Any], list[str], str]:
    fleet = _FLEETS[id(environment)]
    notes: list[str] = []
    scenario: Scenario | None = resolve_scenario(opts.scenario) if opts.scenario else None
    slos = gate_slos(scenario, opts.max_delivery_p99_ms, opts.drain_timeout)
    budget = slos.drain_timeout_s
    player = player_for(environment)
    if player is not None:
        player.finish()
    collected = fleet.collect(flush_timeout=budget)
    nodes = _fleet_notes(collected, notes)
    stored, commit_times = _settled_store(opts, nodes, budget, notes)
    target = max((s.stream_seq for s in stored if s.stream_seq is not None), default=0)
    drained = fleet.drain(target, budget)
    reconnects = sum(max(int(d.get("sessions", 0)) - 1, 0)
                     for report in drained.values() for d in report["dashboards"])
    notes.append(f"drain: to stream seq {target}, reconnects {reconnects}")
    faults = player.summary() if player is not None else {"steps": 0, "errors": []}
    notes.append(f"faults: {faults['steps']} steps played from "
                 f"{opts.scenario or 'no scenario'}")
    errors = _dashboard_errors(drained, max(opts.dashboards, 0))
    stream, audit, read_errors = read_run_rows(opts, nodes, _START_HEAD.get(id(environment)),
                                               target)
    errors.extend(read_errors)
    if stream is not None or audit is not None:
        notes.append(f"database: {len(stream or [])} stream events of the run's window, "
                     f"{len(audit or [])} audit rows of its nodes")
    if fleet.silent:
        errors.append(f"no answer from {', '.join(fleet.silent)}: their nodes and "
                      "dashboards are unaccounted for")
    reports = FleetReports(
        collected=collected, stored=stored, drained=drained,
        windows=fault_windows(scenario, player.records if player is not None else []),
        run_started_at=_STARTED_AT.get(id(environment)), harness_errors=errors,
        commit_times=commit_times, stream_events=stream,
        stream_upto=target if stream is not None else None, audit_rows=audit)
    evidence, verdict = judge_run(reports, slos)
    figures = gate_figures(evidence, verdict)
    figures.update(processes=sorted(collected), faults=faults)
    return evidence, verdict, figures, notes, scenario.name if scenario else ""


def _on_test_stop(environment: Any, **_: Any) -> None:
    evidence_for(environment).mark_stopped()
    if isinstance(environment.runner, WorkerRunner):
        return
    opts = RunOptions.from_environment(environment)
    if not opts.gate:
        return
    try:
        evidence, verdict, figures, notes, name = _judge_fleet(environment, opts)
    except (HttpError, KeyError, TypeError, ValueError, OSError,
            asyncpg.PostgresError) as exc:  # a database read of the gate
        print(f"=== sentinel gate ===\nharness error: could not gather the evidence: {exc}"
              "\nsentinel gate: FAIL (harness)", flush=True)
        environment.process_exit_code = 1
        return
    print("\n".join(notes), flush=True)
    print(format_verdict(verdict, name), flush=True)
    environment.process_exit_code = exit_status(verdict)
    if opts.gate_report:
        write_gate_report(opts.gate_report, evidence, verdict, figures, notes)


def install(events: Any) -> None:
    """Attach the options, the evidence handshake and the gate to Locust's events."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
