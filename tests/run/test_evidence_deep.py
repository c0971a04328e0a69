"""A short real run on the embedded stack fills every field the deeper verdict reads: send
attempts and acks, real commit times, the database's stream, the dashboards' sessions and
stream seqs, blackout cycles from both ends, the state changes against the audit log and
the audit table's refusal to be rewritten; and a clean run passes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from chaos.scenario import Slos
from chaos.verdict import compute_verdict, read_evidence

from ._runhelpers import explain, report, sentinel_chaos

pytestmark = pytest.mark.slow

SCENARIO = """\
    name: deep-evidence
    description: "Clean, about 20 s: 4 nodes, 2 dashboards, one node blacked out for 5 s."
    duration: 12s
    drain: 20s
    fleet: {nodes: 4, rate: 2, dashboards: 2}
    steps:
      - {at: 2s, for: 5s, blackout: {share: 0.25}}
    slos: {max_lost: 0, max_duplicated: 0, max_missing: 0, delivery_p99_ms: 1000,
           drain_timeout_s: 20s, blackout_ack_max_s: 5s}
    """


def test_a_clean_run_fills_every_field_of_the_deep_evidence(tmp_path: Path) -> None:
    scenario = tmp_path / "deep.yaml"
    scenario.write_text(textwrap.dedent(SCENARIO))
    out = tmp_path / "report"
    proc = sentinel_chaos("run", "--scenario", str(scenario), "--report-dir", str(out),
                          "--state-dir", str(tmp_path / "state"), cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert report(out)["verdict"] == "pass"
    ev = read_evidence(out / "evidence.json")

    assert ev.generated and all(g.attempts for g in ev.generated)
    acked = [g for g in ev.generated if g.acked_at is not None]
    assert len(acked) == len(ev.generated)
    assert all(g.ack_status in (200, 201) for g in acked)
    assert all(g.attempts[-1].outcome in ("200", "201") for g in acked)

    assert ev.commit_times == "measured", ev.commit_times
    assert all(s.commit_ts is not None and s.stream_seq is not None for s in ev.stored)
    assert ev.stream_events
    stream_seqs = {e.stream_seq for e in ev.stream_events}
    assert {s.stream_seq for s in ev.stored} <= stream_seqs
    assert {e.type for e in ev.stream_events} >= {"detection", "node_status", "blackout"}

    assert len(ev.dashboards) == 2
    for dash in ev.dashboards:
        assert dash.sessions >= 1 and dash.fatal is None
        assert dash.baseline_seq is not None
        assert set(dash.stream_seqs) == stream_seqs
        assert all(e.content_hash is not None for e in dash.events)

    assert len(ev.blackouts) == 1
    cycle = ev.blackouts[0]
    assert cycle.node_acked_at is not None and cycle.node_off_acked_at is not None
    assert cycle.deactivated_at is not None
    assert cycle.log_queued == cycle.held_back

    kinds = {c.kind for c in ev.changes}
    assert kinds >= {"node.register", "blackout.activate", "blackout.deactivate",
                     "command.create", "command.ack"}
    assert ev.audit_rows
    assert ev.audit_append_only == {"UPDATE": True, "DELETE": True, "TRUNCATE": True}
    assert ev.ledger_gaps == 0
    assert "retry_after_honoured" in ev.fleet_counters

    verdict = compute_verdict(ev, Slos())
    status = {s.name: s.status for s in verdict.slos}
    for name in ("audit_missing", "audit_unexpected", "audit_append_only",
                 "acked_before_commit", "blackout_respected", "blackout_flushed",
                 "ledger_gaps"):
        assert status[name] == "ok", (name, [s for s in verdict.slos if s.name == name])
    assert verdict.causality is not None and verdict.causality.checked == len(acked)
