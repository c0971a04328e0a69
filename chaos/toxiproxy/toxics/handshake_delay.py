"""handshake_delay (extension): a new connection is accepted only ``delay`` ms after it came.

The kernel completes the TCP handshake on its own, so "accepted" is what the client can
observe: for ``delay`` ms the proxy neither connects upstream nor moves a byte either way
(what the client sent waits in the socket), so a server greeting, or the answer to the
first request, comes no sooner than ``delay`` ms after ``connect()`` returned. Connections
already open when the toxic is added are not touched; the stream it is added on does not
matter. ``toxicity`` is the fraction of new connections that are held.
"""

from __future__ import annotations

import random
from typing import ClassVar

from chaos.toxiproxy.toxics.base import Passthrough, register


@register
class HandshakeDelayToxic(Passthrough):
    type_name = "handshake_delay"
    defaults: ClassVar[dict[str, int]] = {"delay": 0}
    rolls_own_toxicity = True  # per new connection, in accept_delay

    def validate(self) -> str | None:
        if self.attributes["delay"] < 0:
            return "delay must not be negative"
        return None

    def accept_delay(self, rng: random.Random) -> float:
        if self.toxicity < 1.0 and rng.random() >= self.toxicity:
            return 0.0
        return self.attributes["delay"] / 1000.0
