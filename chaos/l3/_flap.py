"""Flapping: a fault switched on and off on a period, by a background thread.

The thread belongs to a link and is stopped when the link closes, so it can
never outlive the namespace it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from chaos.l3._faults import Faults


class Flapper:
    """Calls `apply(fault)` for `on_s`, then `apply(None)` for `off_s`, until stopped."""

    def __init__(
        self, apply: Callable[[Faults | None], None], fault: Faults, on_s: float, off_s: float
    ) -> None:
        if on_s <= 0 or off_s <= 0:
            raise ValueError(f"flap on_s={on_s!r} off_s={off_s!r}: both must be positive")
        self._apply = apply
        self._fault = fault
        self._on_s = on_s
        self._off_s = off_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sc-l3-flap", daemon=True)
        self.cycles = 0
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                self._apply(self._fault)
                if self._stop.wait(self._on_s):
                    break
                self._apply(None)
                self.cycles += 1
                self._stop.wait(self._off_s)
        except BaseException as exc:  # reported through .error; the link stays usable
            self.error = exc

    def stop(self) -> None:
        """Stop the thread; the caller restores the link's base faults afterwards."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
