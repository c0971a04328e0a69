"""The fleet's durable state: outboxes, seq counters, tokens and the ledger, in one SQLite file.

Why one file: a tick writes the new detections (outbox + ledger + seq counters),
the acks (outbox delete + ledger ack time), the dashboards' receipts and their
resume points in ONE transaction, so after a kill -9 every table agrees with the
others: nothing generated is missing from the outbox, no seq is reused, and a
dashboard resumes exactly after the last receipt it recorded. WAL with
synchronous=NORMAL survives a process crash (only a power cut can cost the last
commits, which this harness does not inject).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from simulator.clock_offset import ClockSample

__all__ = [
    "CHANGE_MADE",
    "CHANGE_REFUSED",
    "CHANGE_UNKNOWN",
    "SCHEMA",
    "FleetStore",
    "TickBatch",
    "connect",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clock_sample (
    t_send_us INTEGER NOT NULL, server_us INTEGER NOT NULL, t_recv_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS node (
    idx INTEGER PRIMARY KEY,
    node_id TEXT NOT NULL UNIQUE,
    owned INTEGER NOT NULL DEFAULT 0,
    token TEXT,
    next_seq INTEGER NOT NULL DEFAULT 1,
    blackout INTEGER NOT NULL DEFAULT 0,
    blackout_queued INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS outbox (
    node_idx INTEGER NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (node_idx, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS generated (
    node_idx INTEGER NOT NULL, seq INTEGER NOT NULL,
    captured_us INTEGER NOT NULL, hash INTEGER NOT NULL,
    acked_us INTEGER, ack_status INTEGER,
    PRIMARY KEY (node_idx, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dashboard (
    idx INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
    baseline_seq INTEGER, last_seq INTEGER,
    duplicates INTEGER NOT NULL DEFAULT 0, gaps INTEGER NOT NULL DEFAULT 0,
    out_of_order INTEGER NOT NULL DEFAULT 0, reconnects INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS stream (
    seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, node_idx INTEGER, node_seq INTEGER,
    committed_us INTEGER, captured_us INTEGER
);
CREATE TABLE IF NOT EXISTS received (
    dash INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, recv_us INTEGER NOT NULL,
    PRIMARY KEY (dash, lo)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anomaly (
    dash INTEGER NOT NULL, kind TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS conflict (
    node_idx INTEGER NOT NULL, seq INTEGER NOT NULL, status INTEGER NOT NULL,
    detail TEXT, at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS command (
    id TEXT NOT NULL, node_idx INTEGER NOT NULL, type TEXT NOT NULL,
    received_us INTEGER NOT NULL, result TEXT
);
CREATE TABLE IF NOT EXISTS blackout (
    node_idx INTEGER NOT NULL, on_us INTEGER NOT NULL, off_us INTEGER, queued INTEGER
);
CREATE TABLE IF NOT EXISTS clock_skew (
    node_idx INTEGER NOT NULL, seq INTEGER NOT NULL, skew_us INTEGER NOT NULL,
    PRIMARY KEY (node_idx, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempt (
    node_idx INTEGER NOT NULL, seq INTEGER NOT NULL, at_us INTEGER NOT NULL,
    outcome TEXT NOT NULL, batch INTEGER NOT NULL, duplicate INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS change (
    kind TEXT NOT NULL, actor TEXT NOT NULL, target TEXT NOT NULL,
    requested_us INTEGER NOT NULL, answered_us INTEGER NOT NULL, outcome INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS command_ack (
    id TEXT NOT NULL, node_idx INTEGER NOT NULL, type TEXT NOT NULL, blackout_id INTEGER,
    queued INTEGER, requested_us INTEGER NOT NULL, answered_us INTEGER NOT NULL,
    status INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS receipt_hash (
    dash INTEGER NOT NULL, seq INTEGER NOT NULL, hash INTEGER, at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS retry_wait (
    node_idx INTEGER NOT NULL, status INTEGER NOT NULL, retry_after_s REAL,
    waited_s REAL NOT NULL, at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    t_us INTEGER PRIMARY KEY, generated INTEGER, sent INTEGER, acked INTEGER,
    backlog INTEGER, retries INTEGER, received_events INTEGER,
    throughput REAL, delivery_p99_ms REAL, loop_lag_ms REAL
);
"""

# Kinds of stream events in the `stream` table.
KIND_CODES = {"detection": 1, "node_status": 2, "blackout": 3}

# ``change.outcome``: answered 2xx, refused, or unknown (the answer was lost: the change
# may have been made; the audit log says whether).
CHANGE_MADE, CHANGE_REFUSED, CHANGE_UNKNOWN = 1, 0, 2

# Columns added after the first version of a table: a state file written before gets them
# on open (``ALTER TABLE ... ADD COLUMN``), so an older state dir still resumes.
_ADDED_COLUMNS = (
    ("stream", "hash", "INTEGER"),
    ("dashboard", "sessions", "INTEGER NOT NULL DEFAULT 0"),
    ("dashboard", "resumes", "INTEGER NOT NULL DEFAULT 0"),
    ("dashboard", "replayed", "INTEGER NOT NULL DEFAULT 0"),
    ("dashboard", "slow_closes", "INTEGER NOT NULL DEFAULT 0"),
    ("dashboard", "fatal", "TEXT"),
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, decl in _ADDED_COLUMNS:
        have = {str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL on."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


@dataclass
class TickBatch:
    """Everything one scheduler tick writes, committed together."""

    outbox: list[tuple[int, int, bytes]] = field(default_factory=list)
    generated: list[tuple[int, int, int, int]] = field(default_factory=list)
    acks: list[tuple[int, int, int, int]] = field(default_factory=list)  # idx, seq, us, status
    nodes: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # next_seq, bo, queued
    tokens: dict[int, str] = field(default_factory=dict)
    new_nodes: list[tuple[int, str]] = field(default_factory=list)  # idx, node_id (not ours)
    # seq, kind, node idx, node seq, committed_us, captured_us, hash of the first receipt
    stream: list[
        tuple[int, int, int | None, int | None, int | None, int | None, int | None]
    ] = field(default_factory=list)
    received: list[tuple[int, int, int, int]] = field(default_factory=list)
    # last_seq, duplicates, gaps, out_of_order, reconnects, sessions, resumes, replayed,
    # slow_closes, fatal
    dashboards: dict[int, tuple[int | None, int, int, int, int, int, int, int, int, str | None]] = (
        field(default_factory=dict))
    anomalies: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    conflicts: list[tuple[int, int, int, str | None, int]] = field(default_factory=list)
    commands: list[tuple[str, int, str, int, str | None]] = field(default_factory=list)
    blackout_on: list[tuple[int, int]] = field(default_factory=list)
    blackout_off: list[tuple[int, int, int]] = field(default_factory=list)  # off_us, queued, idx
    retry_waits: list[tuple[int, int, float | None, float, int]] = field(default_factory=list)
    # idx, seq, at_us, outcome, batch, duplicate: every send of every detection
    attempts: list[tuple[int, int, int, str, int, int]] = field(default_factory=list)
    # kind, actor, target, requested_us, answered_us, outcome (CHANGE_*)
    changes: list[tuple[str, str, str, int, int, int]] = field(default_factory=list)
    # id, idx, type, blackout_id, queued, requested_us, answered_us, HTTP status (0: none)
    command_acks: list[tuple[str, int, str, int | None, int | None, int, int, int]] = field(
        default_factory=list)
    # dash, seq, hash, at_us: receipts whose event differs from the fleet's first receipt
    receipt_hashes: list[tuple[int, int, int | None, int]] = field(default_factory=list)
    # idx, seq, skew_us: detections whose node's clock was wrong (captured_at - true time)
    clock_skews: list[tuple[int, int, int]] = field(default_factory=list)
    series: list[tuple[int, int, int, int, int, int, int, float, float | None, float]] = field(
        default_factory=list
    )

    def empty(self) -> bool:
        return not (
            self.outbox or self.generated or self.acks or self.nodes or self.tokens
            or self.new_nodes or self.stream
            or self.received or self.dashboards or self.anomalies or self.conflicts
            or self.commands or self.blackout_on or self.blackout_off or self.retry_waits
            or self.series or self.clock_skews or self.attempts or self.changes
            or self.command_acks or self.receipt_hashes
        )


class FleetStore:
    """Write side of the state file; the read side for the verdict is `simulator.ledger`."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = connect(path)
        self.conn.executescript(SCHEMA)
        _add_missing_columns(self.conn)

    def close(self) -> None:
        self.conn.close()

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def set_clock_samples(self, samples: Iterable[ClockSample]) -> None:
        """Replace the clock samples (the fleet writes its best ones at close)."""
        rows = [(round(s.t_send * 1e6), round(s.server_time * 1e6), round(s.t_recv * 1e6))
                for s in samples]
        c = self.conn
        c.execute("BEGIN")
        try:
            c.execute("DELETE FROM clock_sample")
            c.executemany("INSERT INTO clock_sample VALUES (?, ?, ?)", rows)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def intern_node(self, node_id: str, owned: bool = False) -> int:
        """The integer index of a node id (created on first sight)."""
        self.conn.execute(
            "INSERT OR IGNORE INTO node(node_id, owned) VALUES (?, ?)", (node_id, int(owned))
        )
        if owned:
            self.conn.execute("UPDATE node SET owned = 1 WHERE node_id = ?", (node_id,))
        row = self.conn.execute("SELECT idx FROM node WHERE node_id = ?", (node_id,)).fetchone()
        return int(row[0])

    def node_rows(self) -> list[tuple[int, str, str | None, int, int, int]]:
        return [
            (int(r[0]), str(r[1]), r[2], int(r[3]), int(r[4]), int(r[5]))
            for r in self.conn.execute(
                "SELECT idx, node_id, token, next_seq, blackout, blackout_queued FROM node"
                " WHERE owned = 1"
            )
        ]

    def all_node_ids(self) -> dict[str, int]:
        return {str(r[1]): int(r[0]) for r in self.conn.execute("SELECT idx, node_id FROM node")}

    def set_token(self, idx: int, token: str) -> None:
        self.conn.execute("UPDATE node SET token = ? WHERE idx = ?", (token, idx))

    def outbox_rows(self) -> list[tuple[int, int, bytes]]:
        return [
            (int(r[0]), int(r[1]), bytes(r[2]))
            for r in self.conn.execute(
                "SELECT node_idx, seq, body FROM outbox ORDER BY node_idx, seq"
            )
        ]

    def dashboard_row(self, name: str) -> tuple[int, int | None, int | None]:
        self.conn.execute("INSERT OR IGNORE INTO dashboard(name) VALUES (?)", (name,))
        r = self.conn.execute(
            "SELECT idx, baseline_seq, last_seq FROM dashboard WHERE name = ?", (name,)
        ).fetchone()
        return int(r[0]), r[1], r[2]

    def dashboard_counters(self, idx: int) -> tuple[int, int, int, int]:
        r = self.conn.execute(
            "SELECT duplicates, gaps, out_of_order, reconnects FROM dashboard WHERE idx = ?", (idx,)
        ).fetchone()
        return int(r[0]), int(r[1]), int(r[2]), int(r[3])

    def dashboard_sessions(self, idx: int) -> tuple[int, int, int, int]:
        """(sessions, resumes, replayed, slow_closes) recorded for a dashboard so far."""
        r = self.conn.execute(
            "SELECT sessions, resumes, replayed, slow_closes FROM dashboard WHERE idx = ?", (idx,)
        ).fetchone()
        return int(r[0]), int(r[1]), int(r[2]), int(r[3])

    def set_dashboard_baseline(self, idx: int, baseline: int) -> None:
        self.conn.execute(
            "UPDATE dashboard SET baseline_seq = ?, last_seq = COALESCE(last_seq, ?) WHERE idx = ?",
            (baseline, baseline, idx),
        )

    def stream_state(self) -> tuple[int, set[int]]:
        """High-water mark of the recorded stream and the holes below it."""
        hw = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM stream").fetchone()[0]
        count = self.conn.execute("SELECT COUNT(*) FROM stream").fetchone()[0]
        holes: set[int] = set()
        if hw and count < hw:
            low = self.conn.execute("SELECT MIN(seq) FROM stream").fetchone()[0]
            prev = int(low) - 1
            for (s,) in self.conn.execute("SELECT seq FROM stream ORDER BY seq"):
                holes.update(range(prev + 1, int(s)))
                prev = int(s)
        return int(hw), holes

    def flush(self, b: TickBatch) -> None:
        """Commit one tick's writes in one transaction."""
        if b.empty():
            return
        c = self.conn
        c.execute("BEGIN")
        try:
            if b.outbox:
                c.executemany("INSERT OR REPLACE INTO outbox VALUES (?, ?, ?)", b.outbox)
            if b.generated:
                c.executemany(
                    "INSERT OR IGNORE INTO generated(node_idx, seq, captured_us, hash)"
                    " VALUES (?, ?, ?, ?)",
                    b.generated,
                )
            if b.nodes:
                c.executemany(
                    "UPDATE node SET next_seq = ?, blackout = ?, blackout_queued = ? WHERE idx = ?",
                    [(v[0], v[1], v[2], k) for k, v in b.nodes.items()],
                )
            if b.new_nodes:
                c.executemany(
                    "INSERT OR IGNORE INTO node(idx, node_id, owned) VALUES (?, ?, 0)", b.new_nodes
                )
            if b.tokens:
                c.executemany(
                    "UPDATE node SET token = ? WHERE idx = ?", [(t, i) for i, t in b.tokens.items()]
                )
            if b.acks:
                c.executemany(
                    "DELETE FROM outbox WHERE node_idx = ? AND seq = ?",
                    [(a[0], a[1]) for a in b.acks],
                )
                c.executemany(
                    "UPDATE generated SET acked_us = COALESCE(acked_us, ?), ack_status = ?"
                    " WHERE node_idx = ? AND seq = ?",
                    [(a[2], a[3], a[0], a[1]) for a in b.acks],
                )
            if b.stream:
                c.executemany(
                    "INSERT OR IGNORE INTO stream(seq, kind, node_idx, node_seq, committed_us,"
                    " captured_us, hash) VALUES (?, ?, ?, ?, ?, ?, ?)", b.stream)
            if b.received:
                c.executemany("INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?)", b.received)
            if b.dashboards:
                c.executemany(
                    "UPDATE dashboard SET last_seq = ?, duplicates = ?, gaps = ?, out_of_order = ?,"
                    " reconnects = ?, sessions = ?, resumes = ?, replayed = ?, slow_closes = ?,"
                    " fatal = ? WHERE idx = ?",
                    [(*v, k) for k, v in b.dashboards.items()],
                )
            if b.anomalies:
                c.executemany("INSERT INTO anomaly VALUES (?, ?, ?, ?, ?)", b.anomalies)
            if b.conflicts:
                c.executemany("INSERT INTO conflict VALUES (?, ?, ?, ?, ?)", b.conflicts)
            if b.commands:
                c.executemany("INSERT INTO command VALUES (?, ?, ?, ?, ?)", b.commands)
            if b.blackout_on:
                c.executemany("INSERT INTO blackout(node_idx, on_us) VALUES (?, ?)", b.blackout_on)
            if b.blackout_off:
                c.executemany(
                    "UPDATE blackout SET off_us = ?, queued = ? WHERE rowid = ("
                    "SELECT MAX(rowid) FROM blackout WHERE node_idx = ? AND off_us IS NULL)",
                    b.blackout_off,
                )
            if b.retry_waits:
                c.executemany("INSERT INTO retry_wait VALUES (?, ?, ?, ?, ?)", b.retry_waits)
            if b.clock_skews:
                c.executemany("INSERT OR IGNORE INTO clock_skew VALUES (?, ?, ?)", b.clock_skews)
            if b.attempts:
                c.executemany("INSERT INTO attempt VALUES (?, ?, ?, ?, ?, ?)", b.attempts)
            if b.changes:
                c.executemany("INSERT INTO change VALUES (?, ?, ?, ?, ?, ?)", b.changes)
            if b.command_acks:
                c.executemany(
                    "INSERT INTO command_ack VALUES (?, ?, ?, ?, ?, ?, ?, ?)", b.command_acks)
            if b.receipt_hashes:
                c.executemany("INSERT INTO receipt_hash VALUES (?, ?, ?, ?)", b.receipt_hashes)
            if b.series:
                c.executemany(
                    "INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", b.series
                )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
