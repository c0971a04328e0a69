"""Bounded headless Locust runs against the real backend behind the embedded Toxiproxy.

Each run is a subprocess (Locust monkey-patches with gevent at import) of 15-20 s with a
handful of users, on loopback only. The gate's verdict (``chaos.verdict.compute_verdict``
on the run's evidence, against the scenario's SLOs) is Locust's exit code.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncpg
import pytest
from lt_locust import LocustProcess, run_locust, wait_for_text
from lt_stack import Stack, running_stack

from chaos.scenario import load_scenario_file
from chaos.verdict import compute_verdict, read_evidence
from sentinel_backend.pg import EmbeddedPostgres, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        importlib.util.find_spec("locust") is None or importlib.util.find_spec("websocket") is None,
        reason="Locust runs need the 'load' extra: pip install -e '.[dev,load]'",
    ),
]

# A fault timeline without a cut: every request gets its answer, so the planted-fault run
# knows the row it deletes was acked (a cut can lose an ack, and then a deleted row would
# rightly not count as lost).
LATENCY_ONLY = """\
name: locust-latency
description: "latency on both links while the edge nodes ramp"
duration: 20s
fleet: {nodes: 4, rate: 5, dashboards: 2}
links:
  ingest: {proxy: ingest}
  stream: {proxy: stream}
steps:
  - at: 3s
    for: 6s
    link: ingest
    toxic: {type: latency, attributes: {latency: 100, jitter: 30}, stream: downstream}
  - at: 5s
    for: 5s
    link: stream
    toxic: {type: latency, attributes: {latency: 50, jitter: 10}, stream: downstream}
slos: {max_lost: 0, delivery_p99_ms: 1000}
"""


STREAM_CUT = """\
name: locust-stream-cut
description: "the dashboards' link is cut for 4 s: they must resume with since= and miss nothing"
duration: 16s
fleet: {nodes: 3, rate: 5, dashboards: 2}
links:
  stream: {proxy: stream}
steps:
  - at: 5s
    for: 4s
    link: stream
    cut: {}
slos: {max_lost: 0, delivery_p99_ms: 1000}
"""


@pytest.fixture(scope="module")
def stack(postgres: EmbeddedPostgres) -> Iterator[Stack]:
    with running_stack(postgres) as running:
        yield running


@pytest.fixture
def latency_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "latency.yaml"
    path.write_text(LATENCY_ONLY)
    return path


def _common(stack: Stack, users: int, run_time: str) -> list[str]:
    return ["--headless", "-u", str(users), "-r", str(users), "-t", run_time,
            "--host", stack.ingest_url, "--dashboards", "2", "--loglevel", "INFO"]


def _gate(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


def _slos(report: dict[str, object]) -> dict[str, bool]:
    """SLO name -> passed, from the gate report; per-dashboard SLOs ``missing:<dash>`` are
    folded into one ``missing`` (and ``phantom``...) that holds when all of them do."""
    slos = report["slos"]
    assert isinstance(slos, list)
    out: dict[str, bool] = {}
    for slo in slos:
        name = str(slo["name"]).split(":")[0]
        out[name] = out.get(name, True) and bool(slo["passed"])
    return out


def _failed_line(output: str) -> list[str]:
    """The SLO names of the gate's last line ``sentinel gate: FAIL (a, b:c, ...)``."""
    found = re.findall(r"^sentinel gate: FAIL \((.*)\)$", output, flags=re.M)
    assert found, output[-4000:]
    return [name.split(":")[0] for name in found[-1].split(", ")]


def test_headless_run_with_fault_timeline_passes_gate(stack: Stack, tmp_path: Path) -> None:
    """The built-in smoke timeline (ingest latency, a stream cut, an ingest cut, swallowed
    answers) while ramping; the run lasts past the last step so its retries are exercised.

    The gate reads the database (``--database-url``), so every SLO has its evidence: the
    real commit times, the stream of the run's window, the audit rows of the
    registrations; and smoke's required paths (idempotency, resume) were taken."""
    report = tmp_path / "gate.json"
    args = [*_common(stack, 5, "28s"), "--scenario", "smoke", "--gate-report", str(report),
            "--database-url", stack.database_url]
    done = run_locust(args, stack.env(), tmp_path / "locust.log", timeout=120)
    assert done.returncode == 0, done.output[-6000:]
    assert "sentinel gate: PASS" in done.output
    gate = _gate(report)
    assert all(_slos(gate).values()), gate["slos"]
    assert {"lost", "duplicated", "missing", "delivery_p99", "drain", "recovery",
            "acked_before_commit", "audit_missing", "audit_unexpected",
            "exercised"} <= set(_slos(gate))  # smoke's SLOs, judged on a Locust run
    slos = gate["slos"]
    assert isinstance(slos, list)
    by_name = {str(slo["name"]): slo for slo in slos}
    for name in ("acked_before_commit", "audit_missing", "audit_unexpected"):
        assert by_name[name]["measurable"] and by_name[name]["exercised"] is not False, (
            by_name[name])
    for name in ("exercised:idempotency", "exercised:resume"):
        assert by_name[name]["measured"] > 0, by_name[name]
    figures = gate["figures"]
    assert isinstance(figures, dict)
    assert figures["acked"] > 0 and figures["lost"] == 0
    assert figures["generated"] == figures["stored"]  # the final flush sent every outbox
    faults = figures["faults"]
    assert faults["steps"] == 4 and faults["applied"] == 4 and faults["cleared"] == 4
    # Locust's own statistics show the WebSocket deliveries next to the HTTP requests
    assert re.search(r"^WS\s+deliver\s+\d+", done.output, flags=re.M)
    assert re.search(r"^POST\s+/api/detections\s", done.output, flags=re.M)


async def _delete_first_detection(dsn: str, prefix: str) -> tuple[str, int]:
    """Delete seq 1 of one of this run's nodes (acked: the node has sent seq 2 since)."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(50):
            row = await conn.fetchrow(
                "DELETE FROM detections WHERE id = (SELECT d.id FROM detections d "
                "WHERE d.node_id LIKE $1 AND d.seq = 1 AND EXISTS (SELECT 1 FROM detections e "
                "WHERE e.node_id = d.node_id AND e.seq = 2) ORDER BY d.id LIMIT 1) "
                "RETURNING node_id, seq", f"{prefix}-%")
            if row is not None:
                return str(row["node_id"]), int(row["seq"])
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    raise AssertionError("no detection of this run was stored within 10 s")


def test_planted_fault_fails_gate(stack: Stack, tmp_path: Path, latency_scenario: Path) -> None:
    """An acked detection vanishes from the database mid-run: the gate must say so.

    Planted from outside: one stored, acked row is deleted through DATABASE_URL (a row
    that vanishes after its commit; the backend's own planted faults are the next test).
    """
    prefix = f"plant{uuid.uuid4().hex[:6]}"
    report = tmp_path / "gate.json"
    args = [*_common(stack, 3, "16s"), "--scenario", str(latency_scenario),
            "--node-prefix", prefix, "--gate-report", str(report)]
    proc = LocustProcess(args, stack.env(), tmp_path / "locust.log")
    try:
        assert wait_for_text(proc, "fault applied", timeout=30), proc.output()[-4000:]
        node_id, seq = asyncio.run(_delete_first_detection(stack.database_url, prefix))
        done = proc.wait(timeout=120)
    finally:
        proc.kill()
    assert done.returncode == 1, done.output[-6000:]
    # lost; a dashboard that received the row's event before it vanished has a phantom
    failed = set(_failed_line(done.output))
    assert "lost" in failed and failed <= {"lost", "phantom"}, done.output[-4000:]
    assert f"lost e.g.: {node_id}#{seq}" in done.output
    slos = _slos(_gate(report))
    assert slos["lost"] is False
    assert slos["missing"] and slos["delivery_p99"] and slos["duplicated"]


def test_backend_planted_drop_fails_gate(postgres: EmbeddedPostgres, tmp_path: Path,
                                         latency_scenario: Path) -> None:
    """The backend acks 1 in 10 detections without storing them
    (SENTINEL_FAULT_DROP_ONE_IN): the Locust gate must fail on lost, via the verdict."""
    with running_stack(postgres, {"SENTINEL_FAULT_DROP_ONE_IN": "10"}) as planted:
        args = [*_common(planted, 3, "12s"), "--scenario", str(latency_scenario),
                "--gate-report", str(tmp_path / "gate.json")]
        done = run_locust(args, planted.env(), tmp_path / "locust.log", timeout=120)
    assert done.returncode == 1, done.output[-6000:]
    assert "lost" in _failed_line(done.output)
    gate = _gate(tmp_path / "gate.json")
    assert _slos(gate)["lost"] is False
    figures = gate["figures"]
    assert isinstance(figures, dict)
    assert figures["generated"] > 0 and figures["lost"] > 0


def _fleet_lines(output: str) -> dict[str, tuple[int, int]]:
    """process id -> (nodes with acks, acked identities) from the gate's fleet lines."""
    found = re.findall(r"fleet: process (\S+) reported \d+ nodes \((\d+) with acks\), "
                       r"(\d+) acked identities", output)
    return {pid: (int(nodes), int(acked)) for pid, nodes, acked in found}


def test_two_workers_master_aggregates_both(stack: Stack, tmp_path: Path,
                                           latency_scenario: Path) -> None:
    """Master and two workers in separate processes: the gate judges the whole fleet."""
    port = free_port()
    report = tmp_path / "gate.json"
    master_args = [*_common(stack, 4, "16s"), "--master", "--expect-workers", "2",
                   "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                   "--scenario", str(latency_scenario), "--gate-report", str(report)]
    worker_args = ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    master = LocustProcess(master_args, stack.env(), tmp_path / "master.log")
    workers = [LocustProcess(worker_args, stack.env(), tmp_path / f"worker{i}.log")
               for i in range(2)]
    try:
        done = master.wait(timeout=150)
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for proc in (master, *workers):
            proc.kill()
    assert done.returncode == 0, done.output[-6000:]
    fleet = _fleet_lines(done.output)
    assert len(fleet) == 2, done.output[-6000:]
    assert all(nodes > 0 and acked > 0 for nodes, acked in fleet.values()), fleet
    total = sum(acked for _, acked in fleet.values())
    assert f"fleet: 2 processes, 4 nodes, {total} acked identities in total" in done.output
    gate = _gate(report)
    assert all(_slos(gate).values()), gate["slos"]
    figures = gate["figures"]
    assert isinstance(figures, dict)
    assert sorted(figures["processes"]) == sorted(fleet)
    assert len(figures["dashboard_missing"]) == 2  # one dashboard on each worker
    # the workers' users were stopped before they reported: at most the one request each
    # edge node had in flight is stored without its ack (a gate that judged while the
    # workers kept posting would see hundreds here)
    assert 0 <= figures["stored"] - figures["acked"] <= 4, figures


def test_processes_flag_gate_sees_every_child(stack: Stack, tmp_path: Path,
                                              latency_scenario: Path) -> None:
    """``--processes 2``: Locust forks two workers under a master; same aggregation."""
    report = tmp_path / "gate.json"
    args = [*_common(stack, 4, "14s"), "--processes", "2", "--scenario", str(latency_scenario),
            "--gate-report", str(report)]
    done = run_locust(args, stack.env(), tmp_path / "locust.log", timeout=150)
    assert done.returncode == 0, done.output[-6000:]
    fleet = _fleet_lines(done.output)
    assert len(fleet) == 2 and all(acked > 0 for _, acked in fleet.values()), fleet
    assert "sentinel gate: PASS" in done.output
    figures = _gate(report)["figures"]
    assert isinstance(figures, dict)
    assert 0 <= figures["stored"] - figures["acked"] <= 4, figures


def test_overloaded_backend_retry_after_is_honoured_without_loss(
        postgres: EmbeddedPostgres, tmp_path: Path) -> None:
    """A backend with a tiny ingest queue answers 429 + Retry-After: nodes wait, lose nothing."""
    env = {"SENTINEL_INGEST_QUEUE_MAX": "1", "SENTINEL_GROUP_COMMIT_MAX": "1"}
    with running_stack(postgres, backend_env=env) as small:
        args = [*_common(small, 20, "12s"), "--edge-rate", "20"]
        done = run_locust(args, small.env(), tmp_path / "locust.log", timeout=120)
    assert done.returncode == 0, done.output[-6000:]
    waits = [int(n) for n in re.findall(r"'retry_after_waits': (\d+)", done.output)]
    assert waits and sum(waits) > 0, done.output[-4000:]
    assert re.search(r"429, Retry-After 1s", done.output)


def test_stream_cut_dashboards_resume_but_p99_breaches(stack: Stack, tmp_path: Path) -> None:
    """Dashboards lose their link for 4 s: they resume with ``?since=`` and miss nothing,
    but the events committed during the cut arrive seconds late, so the p99 SLO (scope
    ``all``) fails and says so with its numbers, while the latency outside the fault window
    stays low: judged again with ``delivery_p99_scope: outside_faults`` the same evidence
    passes, through the same verdict."""
    scenario = tmp_path / "stream-cut.yaml"
    scenario.write_text(STREAM_CUT)
    report = tmp_path / "gate.json"
    args = [*_common(stack, 3, "16s"), "--scenario", str(scenario),
            "--gate-report", str(report)]
    done = run_locust(args, stack.env(), tmp_path / "locust.log", timeout=120)
    assert done.returncode == 1, done.output[-6000:]
    assert "sentinel gate: FAIL (delivery_p99)" in done.output
    assert re.search(r"^FAIL delivery_p99\s+\d+ ms\s+<= 1000 ms", done.output, flags=re.M)
    reconnects = re.search(r"drain: to stream seq \d+, reconnects (\d+)", done.output)
    assert reconnects and int(reconnects.group(1)) >= 2, done.output[-4000:]
    gate = _gate(report)
    slos = _slos(gate)
    assert slos["missing"] and slos["lost"] and slos["drain"]
    assert not gate["harness_errors"]
    figures = gate["figures"]
    assert isinstance(figures, dict)
    assert figures["p99_outside_faults_ms"] < 1000 < figures["p99_ms"]
    evidence = read_evidence(tmp_path / "gate.evidence.json")
    assert [w.status for w in evidence.fault_windows] == ["applied"]
    outside = replace(load_scenario_file(scenario).slos, delivery_p99_scope="outside_faults")
    verdict = compute_verdict(evidence, outside)
    assert verdict.passed, [s for s in verdict.slos if not s.passed]


def test_without_run_time_the_scenario_duration_ends_the_run(stack: Stack, tmp_path: Path,
                                                             latency_scenario: Path) -> None:
    """No ``-t``: the shape stops at the scenario's ``duration`` and the gate still judges."""
    short = tmp_path / "short.yaml"
    short.write_text(latency_scenario.read_text().replace("duration: 20s", "duration: 11s"))
    args = ["--headless", "-u", "2", "-r", "2", "--host", stack.ingest_url,
            "--dashboards", "1", "--scenario", str(short)]
    done = run_locust(args, stack.env(), tmp_path / "locust.log", timeout=90)
    assert done.returncode == 0, done.output[-6000:]
    assert "run time 11s from the scenario's duration" in done.output
    assert "sentinel gate: PASS" in done.output
