"""Locust load tests for the Sentinel backend: users, a chaos load shape and a zero-loss gate.

Run it with ``locust -f loadtests/locustfile.py``. Importing this package does not import
Locust (Locust monkey-patches the process with gevent at import, so only the locustfile
pulls it in); the pure parts (timeline, the gate's evidence building) are usable from anywhere.
"""

from __future__ import annotations

from loadtests._gate import FleetReports, build_evidence, judge_run
from loadtests._timeline import FaultStep, load_timeline

__all__ = ["FaultStep", "FleetReports", "build_evidence", "judge_run", "load_timeline"]
