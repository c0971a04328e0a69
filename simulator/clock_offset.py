"""How far the server's clock is from ours, NTP-style, so latencies against it stay honest.

A delivery latency measured as "our receive time - the server's ``committed_at``" is only
right when both clocks agree. On loopback they are one clock; against a remote backend
they can be tens of milliseconds (or, without NTP, seconds) apart, and that error lands
in every p99 unnoticed. This module estimates the difference from round trips, the way
NTP does, and says how sure it is.

Method. A sample is one request/answer exchange: ``t_send`` (our clock, just before the
request left), ``server_time`` (the server's clock, stamped while it handled the request)
and ``t_recv`` (our clock, when the answer arrived). The server stamped its time
somewhere inside our window ``[t_send, t_recv]``, so the true offset
``server clock - our clock`` lies in ``[server_time - t_recv, server_time - t_send]``:

* the sample's estimate is the middle, ``server_time - (t_send + t_recv) / 2``; it is
  exact when the way there and the way back took equally long;
* its uncertainty is half the round trip, ``rtt / 2``: however asymmetric the two ways
  are (a queue on the uplink only), the truth is within it.

Samples with a long round trip (a queue, a retransmission, a busy server) carry little
information, so :func:`estimate_offset` keeps only the ``keep`` samples with the smallest
round trips, takes the median of their estimates (robust to one odd sample) and reports
as uncertainty the tightest bound those samples give on that median: for each kept sample
``rtt/2 + |its estimate - median|``, the smallest. Asymmetric delays therefore widen the
uncertainty; they do not move the estimate outside it.

What it assumes: the server's time is read while it handles the request (true of the
backend's ``server_time`` fields, see docs/api.md), and the two clocks do not drift
apart noticeably over the samples used (estimate again over a recent window on long
runs). Pure: no clock is read here, the caller brings the samples.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["ClockSample", "OffsetEstimate", "estimate_offset", "parse_server_time"]

DEFAULT_KEEP = 5
"""How many of the lowest-round-trip samples the estimate uses."""


def parse_server_time(value: str) -> float:
    """The backend's ``server_time`` (RFC 3339 with an offset) as epoch seconds."""
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"server_time without a time zone: {value!r}")
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One exchange; all three times are epoch seconds (``t_*`` on our clock)."""

    t_send: float
    server_time: float
    t_recv: float

    def __post_init__(self) -> None:
        if self.t_recv < self.t_send:
            raise ValueError(f"answer received before the request was sent: {self!r}")

    @property
    def rtt(self) -> float:
        """The round trip, on our clock."""
        return self.t_recv - self.t_send

    @property
    def offset(self) -> float:
        """This sample's estimate of ``server clock - our clock`` (symmetric paths)."""
        return self.server_time - (self.t_send + self.t_recv) / 2.0


@dataclass(frozen=True, slots=True)
class OffsetEstimate:
    """``server clock - our clock`` is within ``offset_s ± uncertainty_s``."""

    offset_s: float
    """Add to one of our times to get the server's time at that moment."""
    uncertainty_s: float
    """Half-width of the interval that holds the true offset (see the module docstring)."""
    samples: int
    """How many samples the estimate was made from (the kept, lowest-round-trip ones)."""

    def to_local(self, server_time: float) -> float:
        """A server timestamp (e.g. ``committed_at``) on our clock."""
        return server_time - self.offset_s

    def to_server(self, local_time: float) -> float:
        """One of our times on the server's clock."""
        return local_time + self.offset_s


def estimate_offset(samples: Iterable[ClockSample], keep: int = DEFAULT_KEEP) -> OffsetEstimate:
    """The offset from the ``keep`` lowest-round-trip ``samples`` (method: module docstring).

    Raises ``ValueError`` for no samples or ``keep < 1``.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, not {keep}")
    best = sorted(samples, key=lambda s: s.rtt)[:keep]
    if not best:
        raise ValueError("no clock samples to estimate an offset from")
    offset = statistics.median(s.offset for s in best)
    uncertainty = min(s.rtt / 2.0 + abs(s.offset - offset) for s in best)
    return OffsetEstimate(offset_s=offset, uncertainty_s=uncertainty, samples=len(best))
