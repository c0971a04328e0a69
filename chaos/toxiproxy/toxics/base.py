"""The one interface every toxic implements, and the registry that finds them by name.

A toxic is a coroutine that sits on one direction of one connection: it pulls chunks from
its :class:`Stub`, and emits (possibly delayed, sliced or truncated) bytes onward, or closes
or resets the connection. This mirrors Toxiproxy's ``Pipe(stub)`` so that the semantics of
each toxic can be read off the Go original. The stub tracks what part of the current chunk
was emitted, so removing or updating a toxic mid-chunk never loses or reorders bytes.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol


@dataclass(slots=True)
class Chunk:
    """Bytes read from one socket at ``ts`` (event-loop clock, seconds)."""

    data: bytes
    ts: float


class Stub(Protocol):
    """What a toxic sees of the link it sits on."""

    rng: random.Random

    async def get(self) -> Chunk | None:
        """The next chunk, or ``None`` at end of stream (then call :meth:`finish`)."""
        ...

    def emit(self, data: bytes) -> None:
        """Pass ``data`` (the current chunk or the next slice of it, in order) onward."""
        ...

    def finish(self) -> None:
        """Pass the end of stream onward (a FIN once everything before it is written)."""
        ...

    def drop(self) -> None:
        """Discard what is left of the current chunk (for toxics that lose data on purpose)."""
        ...

    def reply(self, data: bytes) -> None:
        """Write ``data`` back to the side this stream reads from, bypassing the rest of the
        chain (for toxics that answer in the server's place, e.g. ``http_error``)."""
        ...

    def close(self) -> None:
        """Close the whole connection (both sockets) gracefully."""
        ...

    def reset(self) -> None:
        """Close the whole connection with a TCP RST (``SO_LINGER`` 0)."""
        ...

    def now(self) -> float:
        """The event-loop clock, the same clock as :attr:`Chunk.ts`."""
        ...


class Toxic(ABC):
    """One toxic type. Subclasses set ``type_name`` and ``defaults`` and implement ``pipe``."""

    type_name: ClassVar[str]
    #: attribute name -> default; the attributes shown by the API, in this order.
    defaults: ClassVar[dict[str, int]]
    #: text attributes (name -> default), shown after the numbers. Toxiproxy's own toxics
    #: have none; extensions such as ``http_error`` (its ``body``) do.
    text_defaults: ClassVar[dict[str, str]] = {}
    #: True for a toxic that applies its toxicity per request itself: the link then runs it
    #: on every connection instead of rolling once per connection.
    rolls_own_toxicity: ClassVar[bool] = False
    #: The one stream a toxic works on, if it only makes sense on one (it is then its
    #: default stream, and the API refuses the other); None for both.
    only_stream: ClassVar[str | None] = None

    def __init__(
        self,
        attributes: Mapping[str, int],
        text_attributes: Mapping[str, str] | None = None,
        toxicity: float = 1.0,
    ) -> None:
        self.attributes: dict[str, int] = {**self.defaults, **attributes}
        self.text_attributes: dict[str, str] = {**self.text_defaults, **(text_attributes or {})}
        self.toxicity = toxicity

    def accept_delay(self, rng: random.Random) -> float:
        """Seconds a new connection waits before it is connected upstream (0: none).

        Asked once per new connection, before any byte moves either way; only
        ``handshake_delay`` answers anything but 0.
        """
        return 0.0

    def validate(self) -> str | None:
        """An error message if the attributes make no sense, else ``None``."""
        return None

    @abstractmethod
    async def pipe(self, stub: Stub) -> None:
        """Move data from ``stub.get()`` to ``stub.emit()`` until end of stream."""


class Passthrough(Toxic):
    """What a link runs for a toxic that its toxicity roll did not pick (and Toxiproxy's noop)."""

    type_name = "noop"
    defaults: ClassVar[dict[str, int]] = {}

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.get()) is not None:
            stub.emit(chunk.data)
        stub.finish()


TOXICS: dict[str, type[Toxic]] = {}


def register(cls: type[Toxic]) -> type[Toxic]:
    """Class decorator: make ``cls`` available under ``cls.type_name``."""
    TOXICS[cls.type_name] = cls
    return cls
