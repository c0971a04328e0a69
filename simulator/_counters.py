"""The fleet's running totals, in a module of their own so every part can count into them.

``simulator.fleet`` re-exports ``FleetCounters``; the progress line, the bench and the
chaos harness read them, the conversation and the generation write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FleetCounters"]


@dataclass
class FleetCounters:
    """Running totals (since this process started) the progress line and the harness read."""

    generated: int = 0
    requests: int = 0
    sent_items: int = 0
    acked: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    retries: int = 0
    transport_errors: int = 0
    status_errors: dict[int, int] = field(default_factory=dict)
    retry_after_waits: int = 0
    heartbeats: int = 0
    heartbeat_failures: int = 0
    commands: int = 0
    registrations: int = 0
    received_events: int = 0
