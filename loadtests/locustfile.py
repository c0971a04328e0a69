"""Sentinel load test: edge nodes and dashboards under a fault timeline, with a zero-loss gate.

    locust -f loadtests/locustfile.py --headless -u 10 -r 5 -t 30s \
        --host http://127.0.0.1:8666 --stream-url ws://127.0.0.1:8667 \
        --api-url http://127.0.0.1:8000 --scenario my-scenario.yaml

Tokens come from SENTINEL_ENROLLMENT_KEY / SENTINEL_VIEWER_TOKEN / SENTINEL_OPERATOR_TOKEN
(or --enrollment-key, --viewer-token, --operator-token); faults go through TOXIPROXY_URL.
The logic lives in the ``loadtests`` package (installed with the project, ``pip install -e .``,
so it imports from any directory); this file only puts it together.
"""

from __future__ import annotations

import locust  # first: Locust monkey-patches the process with gevent at import
from locust import events

from loadtests._gatekeeper import install
from loadtests.shape import ChaosShape
from loadtests.users import DashboardUser, EdgeNodeUser

__all__ = ["ChaosShape", "DashboardUser", "EdgeNodeUser", "locust"]

install(events)
