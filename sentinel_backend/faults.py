"""Planted faults: opt-in bugs that prove the harness can fail.

A resilience gate that has never gone red proves nothing. These settings make the backend
misbehave in ways the verdict must catch, so the self-tests can show that each one turns
the verdict red while the clean backend passes the same scenario. All are off unless their
environment variable is set, and ``sentinel-backend serve`` prints a warning when any is on.

- ``SENTINEL_FAULT_DROP_ONE_IN=N``: 1 in N detections is acked (201) but never stored.
- ``SENTINEL_FAULT_STREAM_SKIP_ONE_IN=N``: 1 in N stored detections never reaches the
  stream (no stream event), so dashboards never see it, not even on replay.
- ``SENTINEL_FAULT_STREAM_DELAY_MS=N``: every live stream frame waits N ms before fan-out.

The choice of which identities are hit is a hash of ``(node_id, seq)``, so a retry of a
dropped item is dropped again: the loss is certain, not a matter of luck.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass

__all__ = ["PlantedFaults"]


def _int_env(name: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a whole number (0 turns it off)") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0")
    return value


def _hit(node_id: str, seq: int, one_in: int, salt: str) -> bool:
    if one_in <= 0:
        return False
    return zlib.crc32(f"{salt}:{node_id}:{seq}".encode()) % one_in == 0


@dataclass(frozen=True)
class PlantedFaults:
    """Which planted faults are on (all zero: none)."""

    drop_one_in: int = 0
    stream_skip_one_in: int = 0
    stream_delay_ms: int = 0

    @classmethod
    def from_env(cls) -> PlantedFaults:
        return cls(
            drop_one_in=_int_env("SENTINEL_FAULT_DROP_ONE_IN"),
            stream_skip_one_in=_int_env("SENTINEL_FAULT_STREAM_SKIP_ONE_IN"),
            stream_delay_ms=_int_env("SENTINEL_FAULT_STREAM_DELAY_MS"),
        )

    @property
    def active(self) -> bool:
        return bool(self.drop_one_in or self.stream_skip_one_in or self.stream_delay_ms)

    def describe(self) -> str:
        parts = []
        if self.drop_one_in:
            parts.append(f"drop 1 in {self.drop_one_in} detections after ack")
        if self.stream_skip_one_in:
            parts.append(f"keep 1 in {self.stream_skip_one_in} detections off the stream")
        if self.stream_delay_ms:
            parts.append(f"delay stream frames by {self.stream_delay_ms} ms")
        return "; ".join(parts) or "none"

    def drops(self, node_id: str, seq: int) -> bool:
        """Whether this identity is acked without being stored."""
        return _hit(node_id, seq, self.drop_one_in, "drop")

    def skips_stream(self, node_id: str, seq: int) -> bool:
        """Whether this identity is stored but kept off the stream."""
        return _hit(node_id, seq, self.stream_skip_one_in, "skip")
