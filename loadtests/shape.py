"""The load shape of a chaos run: dashboards first, edge nodes ramping, faults on a timeline.

Import only from a locustfile (it imports Locust). ``-u`` is the number of edge-node users,
``-r`` their spawn rate and ``-t`` the run time (``use_common_options``); ``--dashboards``
dashboards connect during ``--warmup`` before the first edge node starts, so they see
every detection live. The scenario's fault steps (``--scenario``) are applied and cleared
through the Toxiproxy API (``--toxiproxy-url`` / TOXIPROXY_URL) as the run clock reaches
them, while the users ramp.
"""

from __future__ import annotations

import logging
from typing import Any

from locust import LoadTestShape

from loadtests._options import RunOptions
from loadtests._timeline import load_timeline, scenario_duration
from loadtests._toxiproxy import FaultPlayer
from loadtests.users import EdgeNodeUser

__all__ = ["ChaosShape", "player_for"]

log = logging.getLogger("loadtests.shape")

_PLAYERS: dict[int, FaultPlayer] = {}


def player_for(environment: Any) -> FaultPlayer | None:
    """The fault player of this environment's run (the gate clears and reports it)."""
    return _PLAYERS.get(id(environment))


class ChaosShape(LoadTestShape):
    use_common_options = True

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._opts: RunOptions | None = None
        self._player: FaultPlayer | None = None
        self._run_time: float | None = None

    def reset_time(self) -> None:
        super().reset_time()  # type: ignore[no-untyped-call]
        # Locust resets the clock at the shape's start and again at the first spawn (and a
        # web UI restart is a new run): clear anything applied, replay from the new zero.
        if self._player is not None:
            self._player.finish(0.0)
        self._opts = None

    def _setup(self, environment: Any) -> RunOptions:
        opts = RunOptions.from_environment(environment)
        self._player = None
        self._run_time = opts.run_time
        _PLAYERS.pop(id(environment), None)
        if opts.scenario and self._run_time is None:
            self._run_time = scenario_duration(opts.scenario)  # no -t: the scenario's length
            log.info("run time %.0fs from the scenario's duration", self._run_time)
        if opts.scenario:
            steps, skipped = load_timeline(opts.scenario)
            for reason in skipped:
                log.warning("%s", reason)
            if steps and not opts.toxiproxy_url:
                raise RuntimeError("the scenario has fault steps but no Toxiproxy API: set "
                                   "--toxiproxy-url or TOXIPROXY_URL")
            self._player = FaultPlayer(opts.toxiproxy_url, steps)
            _PLAYERS[id(environment)] = self._player
            log.info("fault timeline: %d steps from %s", len(steps), opts.scenario)
        return opts

    def tick(self) -> tuple[int, float] | tuple[int, float, list[Any] | None] | None:
        assert self.runner is not None
        if self._opts is None:
            self._opts = self._setup(self.runner.environment)
        opts = self._opts
        now = float(self.get_run_time())  # type: ignore[no-untyped-call]
        if self._player is not None:
            self._player.advance(now)
        if self._run_time is not None and now >= self._run_time:
            if self._player is not None:
                self._player.finish(now)
            return None
        if opts.dashboards <= 0:
            return opts.num_users, opts.spawn_rate, [EdgeNodeUser]
        if now < opts.warmup:
            # fixed_count users are dispatched first: this stage is the dashboards alone
            return opts.dashboards, float(opts.dashboards)
        return opts.dashboards + opts.num_users, opts.spawn_rate
