"""What the shaper does to each packet: pure decisions, no sockets, so they can be reasoned
about (and seeded) apart from the NFQUEUE plumbing in `_shaper`.

The order is netem's: lose (Gilbert-Elliott), else corrupt, delay, hold back for
reordering, duplicate. Random draws with a correlation mix the new draw with the
previous one exactly as netem's ``get_crandom`` does: ``u = (1-c)·rnd + c·last``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from chaos.l3._impairments import Impairments


@dataclass(frozen=True)
class Decision:
    """The fate of one packet. ``corrupt_bit`` counts bits from the end of the IP header."""

    drop: bool = False
    delay_s: float = 0.0
    corrupt_bit: int | None = None
    hold_for_reorder: bool = False
    duplicate: bool = False

    @property
    def untouched(self) -> bool:
        return self == _UNTOUCHED


_UNTOUCHED = Decision()


class PacketPolicy:
    """Draws each packet's `Decision`; keeps the burst-loss state and the delay correlation
    across reconfigurations, as a netem qdisc changed with ``tc qdisc change`` does."""

    def __init__(self, impairments: Impairments, rng: random.Random | None = None) -> None:
        self.impairments = impairments
        self._rng = rng or random.Random()
        self._bad_state = False
        self._last_delay_u = 0.5

    @property
    def in_bad_state(self) -> bool:
        return self._bad_state

    def _lost(self) -> bool:
        model = self.impairments.loss
        if model is None:
            return False
        rnd = self._rng.random
        lost = rnd() >= (model.h if self._bad_state else model.k)
        if self._bad_state:
            if rnd() < model.r:
                self._bad_state = False
        elif rnd() < model.p:
            self._bad_state = True
        return lost

    def _delay_s(self) -> float:
        delay = self.impairments.delay
        if delay is None:
            return 0.0
        if delay.jitter_s == 0.0:
            return delay.latency_s
        c = delay.correlation
        u = (1.0 - c) * self._rng.random() + c * self._last_delay_u
        self._last_delay_u = u
        return max(0.0, delay.latency_s + delay.jitter_s * (2.0 * u - 1.0))

    def decide(self, transport_bytes: int) -> Decision:
        """The decision for the next packet, whose IP payload is `transport_bytes` long."""
        imp = self.impairments
        if imp.empty:
            return _UNTOUCHED
        if self._lost():
            return Decision(drop=True)
        rnd = self._rng.random
        corrupt_bit = None
        if imp.corrupt and transport_bytes > 0 and rnd() < imp.corrupt:
            corrupt_bit = self._rng.randrange(transport_bytes * 8)
        return Decision(
            delay_s=self._delay_s(),
            corrupt_bit=corrupt_bit,
            hold_for_reorder=bool(imp.reorder and rnd() < imp.reorder.fraction),
            duplicate=bool(imp.duplicate and rnd() < imp.duplicate),
        )


def flip_bit(packet: bytes, bit: int) -> bytes:
    """`packet` (an IPv4 packet) with bit `bit` after its IP header flipped: the IP header
    stays valid, so the packet reaches the transport, whose checksum then fails."""
    ihl = (packet[0] & 0x0F) * 4
    index = ihl + bit // 8
    if index >= len(packet):
        return packet
    out = bytearray(packet)
    out[index] ^= 1 << (bit % 8)
    return bytes(out)
