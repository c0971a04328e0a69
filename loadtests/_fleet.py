"""Gathers the evidence of every Locust process for the gate, in two phases.

Standalone, the evidence is in this process. Under a master (``--processes`` or remote
workers) each worker keeps its own; the master asks each worker that announced itself
(``sentinel_hello``) with a custom message and waits for every answer, so the gate judges
the whole fleet, not the master's empty share of it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from loadtests._evidence import ProcessEvidence, evidence_for

__all__ = ["LocalFleet", "MasterFleet", "install_worker_handlers"]

log = logging.getLogger("loadtests.fleet")

HELLO, START, COLLECT, COLLECTED, DRAIN, DRAINED = (
    "sentinel_hello", "sentinel_start", "sentinel_collect", "sentinel_collected",
    "sentinel_drain", "sentinel_drained",
)


class LocalFleet:
    """One process holds all the evidence."""

    def __init__(self, environment: Any) -> None:
        self.evidence: ProcessEvidence = evidence_for(environment)
        self.silent: list[str] = []

    def collect(self, flush_timeout: float) -> dict[str, dict[str, Any]]:
        return {"local": self.evidence.collect(flush_timeout)}

    def drain(self, target: int, timeout: float) -> dict[str, dict[str, Any]]:
        return {"local": self.evidence.drain(target, timeout)}


class MasterFleet:
    """The master's view: the workers that said hello, and their answers."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment
        self.start_head: int | None = None
        self.workers: list[str] = []
        self.silent: list[str] = []  # workers that did not answer a question in time
        self.answers: dict[str, dict[str, dict[str, Any]]] = {COLLECTED: {}, DRAINED: {}}
        runner = environment.runner
        runner.register_message(HELLO, self._on_hello)
        runner.register_message(COLLECTED, self._on_answer)
        runner.register_message(DRAINED, self._on_answer)

    def reset(self, start_head: int | None) -> None:
        self.start_head = start_head
        self.workers = []
        self.silent = []
        for answers in self.answers.values():
            answers.clear()

    def _on_hello(self, environment: Any, msg: Any, **_: Any) -> None:
        if msg.node_id not in self.workers:
            self.workers.append(msg.node_id)
        environment.runner.send_message(START, {"head": self.start_head}, client_id=msg.node_id)

    def _on_answer(self, environment: Any, msg: Any, **_: Any) -> None:
        self.answers[msg.type][msg.node_id] = msg.data

    def _ask(self, question: str, answer: str, data: dict[str, Any],
             timeout: float) -> dict[str, dict[str, Any]]:
        self.answers[answer].clear()
        for worker in self.workers:
            self.environment.runner.send_message(question, data, client_id=worker)
        deadline = time.monotonic() + timeout
        while len(self.answers[answer]) < len(self.workers) and time.monotonic() < deadline:
            gevent.sleep(0.1)
        silent = [w for w in self.workers if w not in self.answers[answer]]
        if silent:
            log.error("no %s answer from workers %s within %.0fs", answer, silent, timeout)
            self.silent.extend(w for w in silent if w not in self.silent)
        return dict(self.answers[answer])

    def collect(self, flush_timeout: float) -> dict[str, dict[str, Any]]:
        """Every worker flushes its outboxes (``flush_timeout``), then reports."""
        return self._ask(COLLECT, COLLECTED, {"flush_timeout": flush_timeout},
                         flush_timeout + 30)

    def drain(self, target: int, timeout: float) -> dict[str, dict[str, Any]]:
        return self._ask(DRAIN, DRAINED, {"target": target, "timeout": timeout}, timeout + 10)


def install_worker_handlers(environment: Any) -> None:
    """On a worker: answer the master's questions from this process's evidence."""
    runner = environment.runner

    def on_start(environment: Any, msg: Any, **_: Any) -> None:
        evidence_for(environment).set_start(msg.data.get("head"))

    def on_collect(environment: Any, msg: Any, **_: Any) -> None:
        # A headless master that quits (end of -t or of the shape) judges before it tells
        # the workers to stop (MasterRunner.quit -> stop(send_stop_to_client=False)): stop
        # this worker's users first, so what it reports is final. A no-op when stopped.
        if environment.runner.state in (STATE_RUNNING, STATE_SPAWNING):
            environment.runner.stop()
        flush_timeout = float(msg.data.get("flush_timeout", 10.0))
        environment.runner.send_message(COLLECTED,
                                        evidence_for(environment).collect(flush_timeout))

    def on_drain(environment: Any, msg: Any, **_: Any) -> None:
        data = evidence_for(environment).drain(int(msg.data["target"]), float(msg.data["timeout"]))
        environment.runner.send_message(DRAINED, data)

    runner.register_message(START, on_start)
    runner.register_message(COLLECT, on_collect, concurrent=True)  # it flushes; keep the loop free
    runner.register_message(DRAIN, on_drain, concurrent=True)  # it waits; keep the loop free


def say_hello(environment: Any) -> None:
    """A worker announces itself at test start; the master answers with the start head."""
    environment.runner.send_message(HELLO, {})
