"""``pause_backend``: SIGSTOP the backend's processes for ``for``, then SIGCONT: a backend
that hangs with its sockets open (unlike a kill, connections neither close nor refuse)."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.scenario.steps._outage import ProcessOutage


@dataclass(frozen=True)
class PauseBackend(ProcessOutage):
    kind = "pause_backend"
    capability = "backend"
    summary = "freeze the backend (SIGSTOP), resume it after 'for' (SIGCONT)"
    # One backend process: a kill_backend's restart would start a second one while this one
    # is stopped, so the two share "the backend process".
    target, down, up = "backend", "pause", "resume"
    shared = "the backend process"
    description = "backend paused (SIGSTOP)"


STEP = PauseBackend
