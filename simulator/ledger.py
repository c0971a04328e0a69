"""Read side of the fleet's ledger, for the verdict and the reports.

A run's state dir holds ``fleet.db`` (or ``shard-*/fleet.db`` with ``--processes``).
Node shards are disjoint and every dashboard lives in exactly one shard, so the
union over shards is the fleet's ledger. Tables (all times in microseconds since
the epoch):

- ``generated(node_idx, seq, captured_us, hash, acked_us, ack_status)``: every
  identity created (``ack_status`` 201/200 acked, 409 conflict, 422 rejected).
- ``node(idx, node_id, ...)``: node index -> node id.
- ``stream(seq, kind, node_idx, node_seq, committed_us, captured_us)``: each
  stream event seen by any of the shard's dashboards (kind 1 detection,
  2 node_status, 3 blackout).
- ``received(dash, lo, hi, recv_us)``: dashboard ``dash`` accepted stream seqs
  lo..hi in one frame received at ``recv_us`` (one row per contiguous run).
- ``dashboard(idx, name, baseline_seq, last_seq, duplicates, gaps, out_of_order,
  reconnects)``, ``anomaly(dash, kind, lo, hi, at_us)``, ``conflict``, ``command``,
  ``blackout(node_idx, on_us, off_us, queued)``, ``retry_wait``, ``series``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simulator._store import connect

__all__ = ["DashboardInfo", "Ledger", "ledger_files"]


def ledger_files(state_dir: Path) -> list[Path]:
    """The state files of a run (one, or one per shard)."""
    state_dir = Path(state_dir)
    files = []
    if (state_dir / "fleet.db").exists():
        files.append(state_dir / "fleet.db")
    files.extend(sorted(state_dir.glob("shard-*/fleet.db")))
    return files


@dataclass(frozen=True)
class DashboardInfo:
    name: str
    baseline_seq: int | None
    last_seq: int | None
    duplicates: int
    gaps: int
    out_of_order: int
    reconnects: int


class Ledger:
    """Query a finished (or running: WAL readers do not block the writer) fleet's ledger."""

    def __init__(self, state_dir: Path) -> None:
        self.files = ledger_files(Path(state_dir))
        if not self.files:
            raise FileNotFoundError(f"no fleet.db under {state_dir} (the fleet's --state dir)")
        self._conns = [connect(f, readonly=True) for f in self.files]

    def close(self) -> None:
        for c in self._conns:
            c.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> Iterator[sqlite3.Row | tuple]:  # type: ignore[type-arg]
        for c in self._conns:
            yield from c.execute(sql, args)

    # -- what the nodes created and what was acked --------------------------

    def generated(self) -> Iterator[tuple[str, int, int, int, int | None, int | None]]:
        """(node_id, seq, captured_us, hash, acked_us, ack_status) of every generated identity."""
        for r in self._rows(
            "SELECT n.node_id, g.seq, g.captured_us, g.hash, g.acked_us, g.ack_status"
            " FROM generated g JOIN node n ON n.idx = g.node_idx"
        ):
            yield r[0], r[1], r[2], r[3], r[4], r[5]

    def generated_set(self) -> set[tuple[str, int]]:
        return {(r[0], r[1]) for r in self.generated()}

    def acked_set(self) -> set[tuple[str, int]]:
        """Identities the backend acked (201 stored or 200 duplicate)."""
        return {(r[0], r[1]) for r in self.generated() if r[5] in (200, 201)}

    def unacked(self) -> set[tuple[str, int]]:
        """Identities still in an outbox (never acked): backlog at the end of the run."""
        return {(r[0], r[1]) for r in self.generated() if r[5] is None}

    def hashes(self) -> dict[tuple[str, int], int]:
        return {(r[0], r[1]): r[3] for r in self.generated()}

    def conflicts(self) -> list[tuple[str, int, int, str | None, int]]:
        """(node_id, seq, status, detail, at_us): 409 conflicts and rejected items (both bugs)."""
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in self._rows(
                "SELECT n.node_id, c.seq, c.status, c.detail, c.at_us FROM conflict c"
                " JOIN node n ON n.idx = c.node_idx"
            )
        ]

    def blackouts(self) -> list[tuple[str, int, int | None, int | None]]:
        """(node_id, on_us, off_us, queued) as the nodes saw them."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._rows(
                "SELECT n.node_id, b.on_us, b.off_us, b.queued FROM blackout b"
                " JOIN node n ON n.idx = b.node_idx ORDER BY b.on_us"
            )
        ]

    def retry_waits(self) -> list[tuple[str, int, float | None, float, int]]:
        """(node_id, status, retry_after_s, waited_s, at_us) for each retry after a 429/503."""
        return [
            (r[0], r[1], r[2], r[3], r[4])
            for r in self._rows(
                "SELECT n.node_id, w.status, w.retry_after_s, w.waited_s, w.at_us FROM retry_wait w"
                " JOIN node n ON n.idx = w.node_idx ORDER BY w.at_us"
            )
        ]

    # -- what the dashboards received ---------------------------------------

    def dashboards(self) -> dict[str, DashboardInfo]:
        out = {}
        for r in self._rows(
            "SELECT name, baseline_seq, last_seq, duplicates, gaps, out_of_order, reconnects"
            " FROM dashboard"
        ):
            out[r[0]] = DashboardInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6])
        return out

    def _dash(self, name: str) -> tuple[sqlite3.Connection, int]:
        for c in self._conns:
            row = c.execute("SELECT idx FROM dashboard WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return c, int(row[0])
        raise KeyError(f"no dashboard {name!r} in the ledger")

    def received(
        self, dashboard: str
    ) -> Iterator[tuple[int, str | None, int | None, int, int | None]]:
        """(stream_seq, node_id, node_seq, recv_us, committed_us) of every event it accepted."""
        c, idx = self._dash(dashboard)
        yield from c.execute(
            "SELECT s.seq, n.node_id, s.node_seq, r.recv_us, s.committed_us"
            " FROM received r JOIN stream s ON s.seq BETWEEN r.lo AND r.hi"
            " LEFT JOIN node n ON n.idx = s.node_idx WHERE r.dash = ? ORDER BY s.seq",
            (idx,),
        )

    def received_stream_seqs(self, dashboard: str) -> Counter[int]:
        """How many times each stream seq was recorded for the dashboard (1 each when sound)."""
        c, idx = self._dash(dashboard)
        counts: Counter[int] = Counter()
        for lo, hi in c.execute("SELECT lo, hi FROM received WHERE dash = ?", (idx,)):
            counts.update(range(lo, hi + 1))
        return counts

    def received_detections(self, dashboard: str) -> Counter[tuple[str, int]]:
        """(node_id, node_seq) -> times received, over detection events only."""
        c, idx = self._dash(dashboard)
        counts: Counter[tuple[str, int]] = Counter()
        for node_id, node_seq in c.execute(
            "SELECT n.node_id, s.node_seq FROM received r"
            " JOIN stream s ON s.seq BETWEEN r.lo AND r.hi JOIN node n ON n.idx = s.node_idx"
            " WHERE r.dash = ? AND s.kind = 1",
            (idx,),
        ):
            counts[(node_id, node_seq)] += 1
        return counts

    def anomalies(self, dashboard: str | None = None) -> list[tuple[str, str, int, int, int]]:
        """(dashboard, kind gap|duplicate|out_of_order, lo, hi, at_us)."""
        out = []
        for c in self._conns:
            for r in c.execute(
                "SELECT d.name, a.kind, a.lo, a.hi, a.at_us FROM anomaly a"
                " JOIN dashboard d ON d.idx = a.dash"
            ):
                if dashboard is None or r[0] == dashboard:
                    out.append((r[0], r[1], r[2], r[3], r[4]))
        return out

    def latencies(
        self, dashboard: str | None = None, kind: str = "delivery"
    ) -> list[tuple[int, float]]:
        """(recv_us, latency_ms) per received detection event; kind ``delivery`` (receipt -
        committed_at) or ``e2e`` (receipt - captured_at). All dashboards when None."""
        col = "s.committed_us" if kind == "delivery" else "s.captured_us"
        sql = (
            f"SELECT r.recv_us, (r.recv_us - {col}) / 1000.0 FROM received r"
            " JOIN stream s ON s.seq BETWEEN r.lo AND r.hi"
            f" WHERE s.kind = 1 AND {col} IS NOT NULL"
        )
        out: list[tuple[int, float]] = []
        if dashboard is None:
            for r in self._rows(sql):
                out.append((r[0], r[1]))
        else:
            c, idx = self._dash(dashboard)
            for r in c.execute(sql + " AND r.dash = ?", (idx,)):
                out.append((r[0], r[1]))
        return out

    def series(self) -> list[tuple[int, int, int, int, int, int, int, float, float | None, float]]:
        """Per second (summed over shards, by second): t_us, generated, sent, acked, backlog,
        retries, received_events, throughput, delivery_p99_ms (max), loop_lag_ms (max)."""
        agg: dict[int, list[float | int | None]] = {}
        for r in self._rows("SELECT * FROM series ORDER BY t_us"):
            sec = int(r[0]) // 1_000_000
            a = agg.get(sec)
            if a is None:
                agg[sec] = [sec * 1_000_000, *r[1:]]
                continue
            for i in range(1, 8):
                a[i] = (a[i] or 0) + (r[i] or 0)
            a[8] = max(x for x in (a[8], r[8], -1.0) if x is not None)
            a[9] = max(a[9] or 0.0, r[9] or 0.0)
        return [tuple(v) for _, v in sorted(agg.items())]  # type: ignore[misc]
