"""Close every live link on interpreter exit, SIGINT and SIGTERM.

The context manager covers normal exits and exceptions; this module covers
the rest. Handlers are installed when the first link opens (main thread
only: Python allows no other) and put back when the last one closes, if
nobody replaced ours meanwhile. Our handler closes the links, then chains to
the previous handler: a Python callable is called (so pytest's or asyncio's
own handling still happens; SIGINT's default raises KeyboardInterrupt as
before), SIG_DFL is re-delivered with the default action, SIG_IGN is kept.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol


class Closable(Protocol):
    def close(self) -> None: ...


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None

_lock = threading.RLock()
_live: dict[int, Closable] = {}
_previous: dict[int, _Handler] = {}
_atexit_registered = False
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def close_all() -> None:
    """Close every live link; errors are swallowed so one bad link cannot keep the others."""
    with _lock:
        links = list(_live.values())
    for link in links:
        try:
            link.close()
        except Exception:  # best effort at exit: one bad link must not keep the others
            continue


def _on_signal(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)  # read first: closing the last link
    close_all()  # restores the handlers and forgets `previous`
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        if signum in _previous:
            continue
        _previous[signum] = signal.getsignal(signum)
        signal.signal(signum, _on_signal)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in list(_previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        del _previous[signum]


def register(link: Closable) -> None:
    global _atexit_registered
    with _lock:
        _live[id(link)] = link
        if not _atexit_registered:
            atexit.register(close_all)
            _atexit_registered = True
        _install_handlers()


def unregister(link: Closable) -> None:
    with _lock:
        _live.pop(id(link), None)
        if not _live:
            _restore_handlers()


def live_count() -> int:
    with _lock:
        return len(_live)
