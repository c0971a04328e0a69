"""Planted faults: opt-in bugs that prove the harness can fail.

A resilience gate that has never gone red proves nothing. These settings make the backend
misbehave in ways the verdict must catch, so the self-tests (``sentinel-chaos selftest``)
can show that each one turns the verdict red on its SLO while the clean backend passes the
same scenario. All are off unless their environment variable is set (0 or empty: off); a
bad value is refused at startup with a message naming the variable; ``sentinel-backend
serve`` logs a warning when any is on.

- ``SENTINEL_FAULT_DROP_ONE_IN=N``: 1 in N detections is acked (201) but never stored
  (SLO ``lost``).
- ``SENTINEL_FAULT_STREAM_SKIP_ONE_IN=N``: 1 in N stored detections never reaches the
  stream (no stream event), so dashboards never see it, not even on replay
  (``missing:<dashboard>``).
- ``SENTINEL_FAULT_STREAM_DELAY_MS=N``: every live stream frame waits N ms before fan-out
  (``delivery_p99``).
- ``SENTINEL_FAULT_ACK_BEFORE_COMMIT=MS``: single detections are answered 201 once their
  group's statement ran inside an open transaction, which commits MS ms later; a crash in
  between loses acked rows (``acked_before_commit``).
- ``SENTINEL_FAULT_STREAM_ALTER_ONE_IN=N``: the live fan-out changes the data (a label and
  a confidence) of 1 in N detection events on their way to clients; the stored row and a
  replay stay right (``altered:<dashboard>``).
- ``SENTINEL_FAULT_PHANTOM_ONE_IN=N``: after 1 in N detection events the live fan-out
  invents a detection event of a real node with a seq far ahead, which was never stored,
  under the next stream seq (at most one per fan-out batch; the client then takes the real
  event of that seq for a repeat) (``phantom:<dashboard>``).
- ``SENTINEL_FAULT_NO_IDEMPOTENCY=1``: the unique key on ``(node_id, seq)`` is dropped at
  startup and detections are inserted without a conflict check, so a retry of a committed
  detection is stored again (``duplicated``, in a scenario whose answers get lost). The
  dropped key stays dropped in that database.
- ``SENTINEL_FAULT_BLACKOUT_UNDELIVERED=1``: ``blackout_on`` commands are queued but never
  handed to their node (``blackout_respected``).
- ``SENTINEL_FAULT_SYNC_COMMIT_OFF=1``: ``synchronous_commit = off`` on the backend's pool
  connections: a commit is acked before its WAL is flushed (caught by power cuts).
- ``SENTINEL_FAULT_AUDIT_SEPARATE_TX=MS``: the audit row of a change is written by a
  separate transaction about MS ms after the change, outside the request (and lost if the
  backend dies in between) (``audit_missing``).
- ``SENTINEL_FAULT_AUDIT_DROP_ONE_IN=N``: a trigger on the audit table silently discards
  1 in N inserts (``audit_missing``); removed again at the next startup without it.
- ``SENTINEL_FAULT_CLOCK_SHIFT_S=S``: the backend's clock is S seconds off (S may be
  negative or fractional): every server time it sends (``committed_at`` of stream events
  and of ``GET /api/detections`` rows, ``server_time`` of heartbeat answers and of the
  WebSocket ``hello``/``heartbeat`` frames) is shifted by S. The database's own columns are
  not (judge from the API to see one consistently wrong clock). A harness that does not
  estimate the offset measures every delivery latency S seconds wrong.

The choice of which identities are hit is a hash of ``(node_id, seq)``, so a retry of a
dropped item is dropped again: the loss is certain, not a matter of luck.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

__all__ = ["FAULT_VARIABLES", "PlantedFaults"]

_FLAG_VALUES = {"": False, "0": False, "1": True, "false": False, "true": True,
                "no": False, "yes": True, "off": False, "on": True}

#: Field of :class:`PlantedFaults` -> its environment variable.
FAULT_VARIABLES: Mapping[str, str] = {
    "drop_one_in": "SENTINEL_FAULT_DROP_ONE_IN",
    "stream_skip_one_in": "SENTINEL_FAULT_STREAM_SKIP_ONE_IN",
    "stream_delay_ms": "SENTINEL_FAULT_STREAM_DELAY_MS",
    "ack_before_commit_ms": "SENTINEL_FAULT_ACK_BEFORE_COMMIT",
    "stream_alter_one_in": "SENTINEL_FAULT_STREAM_ALTER_ONE_IN",
    "phantom_one_in": "SENTINEL_FAULT_PHANTOM_ONE_IN",
    "no_idempotency": "SENTINEL_FAULT_NO_IDEMPOTENCY",
    "blackout_undelivered": "SENTINEL_FAULT_BLACKOUT_UNDELIVERED",
    "sync_commit_off": "SENTINEL_FAULT_SYNC_COMMIT_OFF",
    "audit_separate_tx_ms": "SENTINEL_FAULT_AUDIT_SEPARATE_TX",
    "audit_drop_one_in": "SENTINEL_FAULT_AUDIT_DROP_ONE_IN",
    "clock_shift_s": "SENTINEL_FAULT_CLOCK_SHIFT_S",
}


def _int_env(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a whole number (0 turns it off)") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0")
    return value


def _float_env(env: Mapping[str, str], name: str) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a number of seconds (0 turns it off)"
                         ) from None
    if value != value or abs(value) > 86400 * 365:
        raise ValueError(f"{name}={raw!r} must be a finite number of seconds within a year")
    return value


def _flag_env(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip()
    try:
        return _FLAG_VALUES[raw.lower()]
    except KeyError:
        raise ValueError(f"{name}={raw!r} must be 1 (on) or 0 (off)") from None


def _hit(node_id: str, seq: int, one_in: int, salt: str) -> bool:
    if one_in <= 0:
        return False
    return zlib.crc32(f"{salt}:{node_id}:{seq}".encode()) % one_in == 0


@dataclass(frozen=True)
class PlantedFaults:
    """Which planted faults are on (all zero / false: none)."""

    drop_one_in: int = 0
    stream_skip_one_in: int = 0
    stream_delay_ms: int = 0
    ack_before_commit_ms: int = 0
    stream_alter_one_in: int = 0
    phantom_one_in: int = 0
    no_idempotency: bool = False
    blackout_undelivered: bool = False
    sync_commit_off: bool = False
    audit_separate_tx_ms: int = 0
    audit_drop_one_in: int = 0
    clock_shift_s: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PlantedFaults:
        """Read from `env` (default ``os.environ``); ValueError names a bad variable."""
        source = os.environ if env is None else env
        values: dict[str, int | bool | float] = {}
        for f in fields(cls):
            name = FAULT_VARIABLES[f.name]
            values[f.name] = (_flag_env(source, name) if f.type in ("bool", bool)
                              else _float_env(source, name) if f.type in ("float", float)
                              else _int_env(source, name))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    @property
    def hits_ingest(self) -> bool:
        """Whether detections take the ingest path with planted faults."""
        return bool(self.drop_one_in or self.stream_skip_one_in or self.ack_before_commit_ms)

    @property
    def hits_fanout(self) -> bool:
        """Whether the stream fan-out rewrites events before sending them."""
        return bool(self.stream_alter_one_in or self.phantom_one_in)

    def describe(self) -> str:
        parts = []
        if self.drop_one_in:
            parts.append(f"drop 1 in {self.drop_one_in} detections after ack")
        if self.stream_skip_one_in:
            parts.append(f"keep 1 in {self.stream_skip_one_in} detections off the stream")
        if self.stream_delay_ms:
            parts.append(f"delay stream frames by {self.stream_delay_ms} ms")
        if self.ack_before_commit_ms:
            parts.append(f"ack detections {self.ack_before_commit_ms} ms before commit")
        if self.stream_alter_one_in:
            parts.append(f"alter 1 in {self.stream_alter_one_in} streamed detections")
        if self.phantom_one_in:
            parts.append(f"invent a detection after 1 in {self.phantom_one_in} streamed")
        if self.no_idempotency:
            parts.append("store retries again (no unique key)")
        if self.blackout_undelivered:
            parts.append("never deliver blackout_on")
        if self.sync_commit_off:
            parts.append("synchronous_commit off")
        if self.audit_separate_tx_ms:
            parts.append(f"audit rows {self.audit_separate_tx_ms} ms later, apart")
        if self.audit_drop_one_in:
            parts.append(f"audit table drops 1 in {self.audit_drop_one_in} rows")
        if self.clock_shift_s:
            parts.append(f"server clock {self.clock_shift_s:+g} s off")
        return "; ".join(parts) or "none"

    def server_now(self) -> datetime:
        """The time the backend says it is (UTC): now, unless the clock is shifted."""
        now = datetime.now(UTC)
        return now + timedelta(seconds=self.clock_shift_s) if self.clock_shift_s else now

    def drops(self, node_id: str, seq: int) -> bool:
        """Whether this identity is acked without being stored."""
        return _hit(node_id, seq, self.drop_one_in, "drop")

    def skips_stream(self, node_id: str, seq: int) -> bool:
        """Whether this identity is stored but kept off the stream."""
        return _hit(node_id, seq, self.stream_skip_one_in, "skip")

    def alters(self, node_id: str, seq: int) -> bool:
        """Whether the fan-out changes this identity's event data."""
        return _hit(node_id, seq, self.stream_alter_one_in, "alter")

    def phantom_after(self, node_id: str, seq: int) -> bool:
        """Whether the fan-out invents an event after this identity's."""
        return _hit(node_id, seq, self.phantom_one_in, "phantom")
