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
- ``attempt(node_idx, seq, at_us, outcome, batch, duplicate)``: every send of every
  detection and how it ended (HTTP status as text, or timeout/reset/refused/error).
- ``change(kind, actor, target, requested_us, answered_us, outcome)``: state changes the
  fleet asked for (registrations, status changes its heartbeats made), outcome 1 made,
  0 refused, 2 unknown (no answer); ``command_ack(id, node_idx, type, blackout_id, queued,
  requested_us, answered_us, status)``: every ack of a command and its answer.
- ``receipt_hash(dash, seq, hash, at_us)``: the content hash of what a dashboard got, only
  where it differs from the fleet's first receipt (``stream.hash``) or that was gone.
- ``clock_skew(node_idx, seq, skew_us)``: detections written by a node whose clock was
  wrong (``captured_us`` in ``generated`` is the node's clock; minus ``skew_us``, the truth).
- ``clock_sample(t_send_us, server_us, t_recv_us)``: the lowest-round-trip exchanges that
  carried the server's time (heartbeat answers, dashboards' hello), written at close, for
  ``simulator.clock_offset.estimate_offset``.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from simulator._store import connect
from simulator.clock_offset import ClockSample

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
    """One dashboard's counters. ``gaps``: jumps it saw in the stream seqs (a hole the
    server's stream had at that moment, filled later or not); ``sessions``: connections
    the server said hello on; ``resumes``/``replayed``: sessions after the first and the
    events they replayed; ``slow_closes``: 4008 closes; ``fatal``: why it gave up."""

    name: str
    baseline_seq: int | None
    last_seq: int | None
    duplicates: int
    gaps: int
    out_of_order: int
    reconnects: int
    sessions: int = 0
    resumes: int = 0
    replayed: int = 0
    slow_closes: int = 0
    fatal: str | None = None


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

    def clock_skews(self) -> dict[tuple[str, int], float]:
        """(node_id, seq) -> how wrong its node's clock was (s, ``captured_at`` minus the
        true generation time), for the detections written with a wrong clock only. A state
        file from before the ``clock_skew`` table has none."""
        out: dict[tuple[str, int], float] = {}
        for c in self._conns:
            try:
                rows = c.execute(
                    "SELECT n.node_id, k.seq, k.skew_us FROM clock_skew k"
                    " JOIN node n ON n.idx = k.node_idx").fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                continue
            for node_id, seq, skew_us in rows:
                out[(str(node_id), int(seq))] = int(skew_us) / 1e6
        return out

    def clock_samples(self) -> list[ClockSample]:
        """Every shard's clock samples (none in a state file from before the table)."""
        return [ClockSample(int(a) / 1e6, int(b) / 1e6, int(c) / 1e6)
                for a, b, c in self._optional_rows(
                    "SELECT t_send_us, server_us, t_recv_us FROM clock_sample")
                if int(c) >= int(a)]

    def _optional_rows(self, sql: str, fallback: str | None = None
                       ) -> Iterator[tuple]:  # type: ignore[type-arg]
        """Rows of ``sql`` from every shard; a shard written before the table (or column)
        existed gives ``fallback``'s rows, or none."""
        for c in self._conns:
            try:
                rows = c.execute(sql).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such" not in str(exc):
                    raise
                rows = c.execute(fallback).fetchall() if fallback else []
            yield from rows

    def attempts(self) -> Iterator[tuple[str, int, int, str, bool, bool]]:
        """(node_id, seq, at_us, outcome, batch, duplicate) of every send, in send order."""
        for r in self._optional_rows(
            "SELECT n.node_id, a.seq, a.at_us, a.outcome, a.batch, a.duplicate FROM attempt a"
            " JOIN node n ON n.idx = a.node_idx ORDER BY a.at_us"
        ):
            yield str(r[0]), int(r[1]), int(r[2]), str(r[3]), bool(r[4]), bool(r[5])

    def changes(self) -> list[tuple[str, str, str, int, int, int]]:
        """(kind, actor, target, requested_us, answered_us, outcome) of every state change
        the fleet asked for (outcome: ``simulator._store.CHANGE_*``)."""
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
                for r in self._optional_rows("SELECT * FROM change ORDER BY requested_us")]

    def command_acks(
        self,
    ) -> list[tuple[str, str, str, int | None, int | None, int, int, int]]:
        """(command id, node_id, type, blackout_id, queued, requested_us, answered_us,
        status) of every ack the nodes sent (status 0: no answer)."""
        return [
            (str(r[0]), str(r[1]), str(r[2]), r[3], r[4], int(r[5]), int(r[6]), int(r[7]))
            for r in self._optional_rows(
                "SELECT a.id, n.node_id, a.type, a.blackout_id, a.queued, a.requested_us,"
                " a.answered_us, a.status FROM command_ack a JOIN node n ON n.idx = a.node_idx"
                " ORDER BY a.requested_us"
            )
        ]

    def identity_gaps(self) -> int:
        """Seqs missing from this fleet's own record of what its nodes generated: for each
        node, the seqs between its first and last generated one that have no ``generated``
        row (a seq counter that skipped, or a row lost). 0 when the ledger is whole."""
        return sum(
            int(r[0]) for r in self._rows(
                "SELECT MAX(seq) - MIN(seq) + 1 - COUNT(*) FROM generated GROUP BY node_idx"
            )
        )

    def retry_after_honoured(self) -> int:
        """Retries after a 429/503 that waited at least the ``Retry-After`` asked for."""
        return sum(1 for _n, _s, asked, waited, _at in self.retry_waits()
                   if asked is not None and waited >= asked)

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
        for r in self._optional_rows(
            "SELECT name, baseline_seq, last_seq, duplicates, gaps, out_of_order, reconnects,"
            " sessions, resumes, replayed, slow_closes, fatal FROM dashboard",
            fallback="SELECT name, baseline_seq, last_seq, duplicates, gaps, out_of_order,"
            " reconnects, 0, 0, 0, 0, NULL FROM dashboard",
        ):
            out[r[0]] = DashboardInfo(*r)
        return out

    def content_hashes(self, dashboard: str) -> dict[int, int | None]:
        """stream seq -> content hash of the detection the dashboard received there: the
        fleet's first receipt, unless this dashboard's copy differed (``receipt_hash``)."""
        c, idx = self._dash(dashboard)
        out: dict[int, int | None] = {}
        try:
            for seq, digest in c.execute(
                "SELECT s.seq, s.hash FROM received r JOIN stream s ON s.seq BETWEEN r.lo"
                " AND r.hi WHERE r.dash = ? AND s.kind = 1", (idx,)
            ):
                out[int(seq)] = digest
            for seq, digest in c.execute(
                "SELECT seq, hash FROM receipt_hash WHERE dash = ? ORDER BY at_us", (idx,)
            ):
                out[int(seq)] = digest
        except sqlite3.OperationalError as exc:  # a state file from before these columns
            if "no such" not in str(exc):
                raise
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
