"""The ledger's query functions over a state file written by the fleet's store."""

from __future__ import annotations

from pathlib import Path

from simulator._store import FleetStore, TickBatch
from simulator.ledger import Ledger, ledger_files


def test_queries(tmp_path: Path) -> None:
    store = FleetStore(tmp_path / "fleet.db")
    a = store.intern_node("edge-a", owned=True)
    b = store.intern_node("edge-b", owned=True)
    other = store.intern_node("elsewhere")
    d0, _, _ = store.dashboard_row("dash-000")
    d1, _, _ = store.dashboard_row("dash-001")
    store.set_dashboard_baseline(d0, 10)
    store.set_dashboard_baseline(d1, 10)
    t = 1_790_000_000_000_000
    batch = TickBatch()
    for idx in (a, b):
        for seq in (1, 2, 3):
            batch.outbox.append((idx, seq, b"{}"))
            batch.generated.append((idx, seq, t + seq, 1000 * idx + seq))
    batch.acks += [(a, 1, t + 50, 201), (a, 2, t + 60, 200), (b, 1, t + 70, 201), (b, 3, t, 409)]
    batch.conflicts.append((b, 3, 409, "other content", t))
    # stream seqs 11..14: detections a/1, a/2, b/1 and a node_status event of another node
    batch.stream += [
        (11, 1, a, 1, t + 100, t + 1, 11), (12, 1, a, 2, t + 200, t + 2, 12),
        (13, 1, b, 1, t + 300, t + 1, 13), (14, 2, other, None, t + 400, None, None),
    ]
    batch.received += [(d0, 11, 12, t + 1_000), (d0, 13, 14, t + 2_000), (d1, 11, 14, t + 5_000)]
    batch.anomalies.append((d1, "duplicate", 12, 12, t + 5_000))
    batch.receipt_hashes.append((d1, 12, 99, t + 5_000))  # d1 got other content at 12
    batch.attempts += [(a, 1, t + 10, "timeout", 0, 0), (a, 1, t + 40, "200", 0, 1)]
    batch.generated.append((a, 5, t + 5, 1005))  # a's seq 4 is missing: one hole
    batch.series.append((t, 6, 4, 3, 3, 1, 8, 3.0, 1.0, 2.0))
    store.flush(batch)
    store.close()

    assert ledger_files(tmp_path) == [tmp_path / "fleet.db"]
    with Ledger(tmp_path) as led:
        assert len(led.generated_set()) == 7
        assert led.acked_set() == {("edge-a", 1), ("edge-a", 2), ("edge-b", 1)}
        assert led.unacked() == {("edge-a", 3), ("edge-a", 5), ("edge-b", 2)}
        assert [c[:3] for c in led.conflicts()] == [("edge-b", 3, 409)]
        assert set(led.dashboards()) == {"dash-000", "dash-001"}
        assert led.dashboards()["dash-000"].baseline_seq == 10
        got = led.received_detections("dash-000")
        assert got == {("edge-a", 1): 1, ("edge-a", 2): 1, ("edge-b", 1): 1}
        assert sorted(led.received_stream_seqs("dash-001")) == [11, 12, 13, 14]
        rows = list(led.received("dash-000"))
        assert [r[0] for r in rows] == [11, 12, 13, 14]
        assert rows[3][1] == "elsewhere" and rows[3][2] is None
        delivery = sorted(ms for _, ms in led.latencies("dash-000"))
        assert delivery == [0.8, 0.9, 1.7]  # (recv - committed) in ms, detections only
        e2e = sorted(ms for _, ms in led.latencies("dash-001", kind="e2e"))
        assert e2e == [4.998, 4.999, 4.999]
        assert len(led.latencies()) == 6
        assert led.anomalies("dash-001")[0][1:4] == ("duplicate", 12, 12)
        assert led.series()[0][1:4] == (6, 4, 3)
        assert led.content_hashes("dash-000") == {11: 11, 12: 12, 13: 13}
        assert led.content_hashes("dash-001") == {11: 11, 12: 99, 13: 13}
        assert list(led.attempts()) == [("edge-a", 1, t + 10, "timeout", False, False),
                                        ("edge-a", 1, t + 40, "200", False, True)]
        assert led.identity_gaps() == 1
