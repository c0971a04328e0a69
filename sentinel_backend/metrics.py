"""Prometheus metrics of one backend process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    """All metrics in a registry of their own (several apps may live in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.ingested = Counter("sentinel_detections_ingested_total",
                                "Detections by outcome", ["outcome"], registry=r)
        self.requests = Counter("sentinel_http_requests_total", "HTTP requests",
                                ["method", "status"], registry=r)
        self.ingest_latency = Histogram(
            "sentinel_ingest_seconds", "Single-detection ingest latency (to commit)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r)
        self.group_size = Histogram("sentinel_group_commit_size", "Detections per group commit",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
                                    registry=r)
        self.ws_clients = Gauge("sentinel_ws_clients", "Connected WebSocket clients", registry=r)
        self.ws_closed_slow = Counter("sentinel_ws_slow_closed_total",
                                      "WebSocket clients closed with 4008", registry=r)
        self.stream_head = Gauge("sentinel_stream_head", "Last stream seq fanned out here",
                                 registry=r)
        self.sequencer_lag = Gauge("sentinel_sequencer_lag_events",
                                   "Events stamped but not yet fanned out here", registry=r)
        self.unsequenced = Gauge("sentinel_stream_unsequenced_events",
                                 "Committed events still waiting for a stream seq",
                                 registry=r)
        self.command_queue = Gauge("sentinel_command_queue_depth",
                                   "Pending or delivered node commands", registry=r)
        self.outcome = {name: self.ingested.labels(name)
                        for name in ("created", "duplicate", "conflict", "rejected")}
        self._request_children: dict[tuple[str, int], Any] = {}
        self.ingest_queue = Gauge("sentinel_ingest_queue_depth",
                                  "Detections waiting for a group commit", registry=r)

    def count_request(self, method: str, status: int) -> None:
        """Count one HTTP request (label children cached: this runs on every request)."""
        key = (method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(method, str(status))
        child.inc()
