"""Plays a fault timeline through the Toxiproxy HTTP API (v2) with ``chaos``'s sync control.

Speaks only the public API, so it drives the real Toxiproxy image of
docker-compose.chaos.yml and the embedded server of ``chaos`` alike. Every applied fault
is remembered so ``finish`` can remove what is still active, also when the run is stopped
early. httpx's sync client uses plain sockets: cooperative under Locust's gevent.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import httpx

from chaos.toxiproxy import ToxiproxyControl, ToxiproxyError
from loadtests._timeline import FaultStep

__all__ = ["FaultPlayer", "FaultRecord"]

log = logging.getLogger("loadtests.faults")


@dataclass
class FaultRecord:
    """What happened to one step: when it went on and off, and any API error."""

    step: FaultStep
    applied_at: float | None = None  # run time (s since the shape's start)
    cleared_at: float | None = None
    applied_wall: float | None = None  # epoch seconds, to compare with committed_at
    cleared_wall: float | None = None
    errors: list[str] = field(default_factory=list)


class FaultPlayer:
    """Applies each step when the run clock reaches it and clears it when its time is up."""

    def __init__(self, toxiproxy_url: str, steps: list[FaultStep]) -> None:
        self.url = toxiproxy_url
        self.control = ToxiproxyControl(toxiproxy_url, timeout=5.0)
        self.records = [FaultRecord(step) for step in steps]
        self._zero: float | None = None  # perf_counter() at run time 0, from advance()

    def _apply(self, step: FaultStep) -> None:
        if step.kind == "cut":
            self.control.cut(step.proxy)
        else:
            self.control.add_toxic(step.proxy, step.toxic_type, step.attributes,
                                   "upstream" if step.stream == "upstream" else "downstream",
                                   step.toxicity, step.toxic_name)

    def _clear(self, step: FaultStep) -> None:
        if step.kind == "cut":
            self.control.restore(step.proxy)
            return
        try:
            self.control.remove_toxic(step.proxy, step.toxic_name)
        except ToxiproxyError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    def advance(self, now: float) -> None:
        """Bring the proxies to the state the timeline asks for at run time ``now``."""
        self._zero = time.perf_counter() - now
        for record in self.records:
            step = record.step
            if record.applied_at is None and step.at <= now < step.end:
                self._run(record, now, apply=True)
            if record.applied_at is not None and record.cleared_at is None and now >= step.end:
                self._run(record, now, apply=False)

    def finish(self, now: float | None = None) -> None:
        """Clear every fault still on (end of the run, or a stop before its time)."""
        if now is None:
            now = time.perf_counter() - self._zero if self._zero is not None else 0.0
        for record in self.records:
            if record.applied_at is not None and record.cleared_at is None:
                self._run(record, now, apply=False)

    def _run(self, record: FaultRecord, now: float, apply: bool) -> None:
        action = "apply" if apply else "clear"
        wall = time.time()  # before the fault goes on: the window covers the whole fault
        try:
            (self._apply if apply else self._clear)(record.step)
        except (ToxiproxyError, httpx.HTTPError) as exc:
            record.errors.append(f"{action} {record.step.describe()}: {exc}")
            log.error("fault %s failed: %s (TOXIPROXY_URL=%s)", action, exc, self.url)
            if apply:
                # attempted; the error fails the gate through harness errors
                record.applied_at, record.applied_wall = now, wall
            return
        if apply:
            record.applied_at, record.applied_wall = now, wall
        else:
            record.cleared_at, record.cleared_wall = now, time.time()
        log.info("fault %s at %.1fs: %s", "applied" if apply else "cleared", now,
                 record.step.describe())

    def summary(self) -> dict[str, object]:
        """JSON-able account of the timeline for the gate (which steps ran, which failed)."""
        return {
            "steps": len(self.records),
            "applied": sum(r.applied_at is not None and not r.errors for r in self.records),
            "cleared": sum(r.cleared_at is not None for r in self.records),
            "errors": [e for r in self.records for e in r.errors],
            "windows": [[r.applied_wall, r.cleared_wall or time.time()]
                        for r in self.records if r.applied_wall is not None],
            "played": [
                {"step": r.step.describe(), "applied_at": r.applied_at,
                 "cleared_at": r.cleared_at}
                for r in self.records
            ],
        }
