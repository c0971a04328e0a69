"""The live view: how the run is going, while it runs.

On a terminal one line redrawn in place every second; otherwise (CI logs) a plain line
every few seconds. Elapsed time, phase, the fault steps in force, sent/acked/backlog and
the delivery p99 of the last second. A CI log is an artifact too: every line is redacted
(``chaos._secrets``), since a step's description may hold a URL with ``?token=``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TextIO

from chaos._secrets import redact
from chaos.scenario.player import TimelinePlayer


class LiveView:
    def __init__(self, out: TextIO, snapshot: Callable[[], dict[str, Any]],
                 player: TimelinePlayer, total_s: float, *, tty: bool | None = None,
                 every_s: float | None = None) -> None:
        self.out = out
        self.snapshot = snapshot
        self.player = player
        self.total_s = total_s
        self.tty = out.isatty() if tty is None else tty
        self.every_s = every_s if every_s is not None else (1.0 if self.tty else 5.0)
        self.phase = "generating"
        self.t0 = time.monotonic()
        self._width = 0

    def line(self) -> str:
        snap = self.snapshot()
        faults = ", ".join(f"#{w.step_index} {w.description}" for w in self.player.active())
        p99 = snap.get("delivery_p99_ms")
        return redact(
            f"[{time.monotonic() - self.t0:5.0f}s/{self.total_s:.0f}s {self.phase}] "
            f"faults: {faults or '-'} | sent {snap.get('sent_items', 0)} "
            f"acked {snap.get('acked', 0)} backlog {snap.get('backlog', 0)} "
            f"recv {snap.get('received_events', 0)} | delivery p99 "
            f"{'-' if p99 is None else f'{p99:.0f} ms'}")

    def draw(self) -> None:
        text = self.line()
        if self.tty:
            pad = max(0, self._width - len(text))
            self.out.write("\r" + text + " " * pad)
            self._width = len(text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self.out.flush()

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.every_s)
                self.draw()
        finally:
            self.finish()
