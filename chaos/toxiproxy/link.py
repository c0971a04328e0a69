"""One direction of one proxied connection, and the toxic stages chained on it.

With no toxic on a link, bytes go from ``data_received`` straight into the other
transport's ``write`` (which sends at once when the socket is writable): no task, no queue.
When a toxic is added, the link grows a chain of :class:`Stage` objects, each running one
toxic's ``pipe`` as a task; removing the last one brings the direct path back. All changes
happen on the event loop thread and synchronously flush what a stage holds (the unsent rest
of its current chunk, then its queue) onward, so adding, updating or removing a toxic on a
live connection never drops or reorders a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from chaos.toxiproxy.toxics.base import Chunk, Passthrough, Toxic

if TYPE_CHECKING:
    from chaos.toxiproxy.model import ToxicEntry

log = logging.getLogger(__name__)

#: Bytes held inside a link's toxic chain before the reading side is paused.
HIGH_WATER = 1 << 20
LOW_WATER = 256 << 10

Item = Chunk | None  # None is the end of stream
Sink = Callable[[Item], None]


class Endpoint(Protocol):
    """What a link needs from the two sockets and the connection they belong to."""

    def write(self, data: bytes) -> None: ...
    def write_eof(self) -> None: ...
    def hold_reading(self, reason: str, hold: bool) -> None: ...


class ConnectionControl(Protocol):
    def close(self) -> None: ...
    def reset(self) -> None: ...
    def link_finished(self) -> None: ...


class Stage:
    """One toxic on one link: its input queue, its task, and the stub the toxic talks to."""

    def __init__(self, link: Link, entry: ToxicEntry, out: Sink) -> None:
        self.link = link
        self.entry = entry
        self.out = out
        self.rng = link.rng
        self.buf: deque[Item] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._holding = False
        self._current: Item = None
        self._sent = 0
        self._task: asyncio.Task[None] | None = None

    def reply(self, data: bytes) -> None:
        self.link.src.write(data)

    # -- lifecycle (event loop thread) -------------------------------------------------
    def start(self) -> None:
        entry = self.entry
        toxic: Toxic = entry.toxic if self.rng.random() < entry.toxicity else Passthrough({})
        self._task = asyncio.get_running_loop().create_task(self._run(toxic))

    async def _run(self, toxic: Toxic) -> None:
        try:
            await toxic.pipe(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("toxic %s failed; closing the connection", self.entry.name)
            self.link.conn.close()

    def _stop_task(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._waiter = None

    def _flush_current(self) -> None:
        if self._holding:
            item, sent = self._current, self._sent
            self._holding, self._current, self._sent = False, None, 0
            if item is None:
                self.out(None)
            elif sent < len(item.data):
                self.out(Chunk(item.data[sent:], item.ts))

    def restart(self, entry: ToxicEntry) -> None:
        """Swap in an updated toxic; the unsent rest of the current chunk goes on first."""
        self._stop_task()
        self._flush_current()  # may finish the connection (a held EOF)
        self.entry = entry
        if not self.link.closed:
            self.start()

    def remove(self) -> None:
        """Stop, and pass everything held onward, in order."""
        self._stop_task()
        self._flush_current()
        while self.buf:
            self.out(self.buf.popleft())

    def cancel(self) -> None:
        self._stop_task()
        self.buf.clear()

    def put(self, item: Item) -> None:
        self.buf.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the Stub the toxic sees ---------------------------------------------------------
    async def get(self) -> Chunk | None:
        self._holding = False
        while not self.buf:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                if self._waiter is waiter:  # a restarted stage may have a new one already
                    self._waiter = None
        item = self.buf.popleft()
        self._holding, self._current, self._sent = True, item, 0
        return item

    def emit(self, data: bytes) -> None:
        if not data:
            return
        self._sent += len(data)
        self.out(Chunk(data, self.now()))

    def finish(self) -> None:
        self._holding = False
        self._current = None
        self.out(None)

    def drop(self) -> None:
        if self._holding and self._current is not None:
            self.link.release(len(self._current.data) - self._sent)
        self._holding, self._current, self._sent = False, None, 0

    def close(self) -> None:
        self.link.conn.close()

    def reset(self) -> None:
        self.link.conn.reset()

    def now(self) -> float:
        return asyncio.get_running_loop().time()


class Link:
    """Bytes read from ``src`` and written to ``dst``, through this link's toxic stages."""

    def __init__(self, conn: ConnectionControl, stream: str, src: Endpoint, dst: Endpoint) -> None:
        self.conn = conn
        self.stream = stream
        self.src = src
        self.dst = dst
        self.rng = random.Random()
        self.stages: list[Stage] = []
        self.buffered = 0
        self.bytes = 0
        self.finished = False
        self.closed = False
        self._loop = asyncio.get_running_loop()

    # -- from the reading side -----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        if not self.stages:
            self.dst.write(data)
            return
        self.buffered += len(data)
        self.stages[0].put(Chunk(data, self._loop.time()))
        if self.buffered > HIGH_WATER:
            self.src.hold_reading("chain", True)

    def feed_eof(self) -> None:
        if self.stages:
            self.stages[0].put(None)
        else:
            self.sink(None)

    # -- to the writing side -------------------------------------------------------------
    def sink(self, item: Item) -> None:
        if item is None:
            if not self.finished:
                self.finished = True
                self.dst.write_eof()
                self.conn.link_finished()
            return
        self.dst.write(item.data)
        if self.stages:
            self.release(len(item.data))

    def release(self, nbytes: int) -> None:
        self.buffered = max(0, self.buffered - nbytes)
        if self.buffered < LOW_WATER:
            self.src.hold_reading("chain", False)

    # -- toxic changes (event loop thread) -----------------------------------------------
    def add_toxic(self, entry: ToxicEntry) -> None:
        if self.closed:
            return
        stage = Stage(self, entry, self.sink)
        if self.stages:
            self.stages[-1].out = stage.put
        self.stages.append(stage)
        stage.start()

    def update_toxic(self, entry: ToxicEntry) -> None:
        for stage in list(self.stages):
            if stage.entry.name == entry.name and not self.closed:
                stage.restart(entry)

    def remove_toxic(self, name: str) -> None:
        for index, stage in enumerate(self.stages):
            if stage.entry.name == name:
                # Unlink first: flushing may finish (and so close) the connection.
                del self.stages[index]
                if index > 0:
                    self.stages[index - 1].out = stage.out
                stage.remove()
                if not self.stages:
                    self.buffered = 0
                    self.src.hold_reading("chain", False)
                return

    def cancel(self) -> None:
        self.closed = True
        for stage in self.stages:
            stage.cancel()
        self.stages.clear()


def set_linger_zero(transport: asyncio.BaseTransport) -> None:
    """Make the next close of ``transport`` send a TCP RST instead of a FIN."""
    import socket
    import struct

    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
