"""Simulated Sentinel edge nodes and dashboards, the fleet runner and its ledger.

Speaks to the backend only over HTTP/WebSocket (docs/api.md).
"""

from simulator._backoff import parse_retry_after
from simulator.dashboard import DashboardClient
from simulator.fleet import DrainResult, Fleet, FleetConfig, FleetCounters
from simulator.ledger import DashboardInfo, Ledger, ledger_files
from simulator.payloads import content_hash, make_detection, payload_bytes
from simulator.ports import free_port

__all__ = [
    "DashboardClient",
    "DashboardInfo",
    "DrainResult",
    "Fleet",
    "FleetConfig",
    "FleetCounters",
    "Ledger",
    "content_hash",
    "free_port",
    "ledger_files",
    "make_detection",
    "parse_retry_after",
    "payload_bytes",
]
