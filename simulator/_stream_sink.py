"""Where the fleet's dashboards write: the ledger's record of the stream (a ``DashboardSink``).

Each stream event is recorded once however many dashboards receive it: its stream
seq, kind, node and times go into the ``stream`` table with the open tick batch,
and its (committed_us, captured_us) into a cache the other dashboards read instead
of parsing the event again. A high-water mark and the holes below it say which
seqs are recorded already, including by an earlier run of this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simulator._recorder import TickRecorder
from simulator._store import KIND_CODES, TickBatch
from simulator.dashboard import DashboardClient, event_times
from simulator.protocol import EVENT_DETECTION, stored_content_hash

__all__ = ["StreamSink"]

# Cache entries kept before the ones every dashboard is past are dropped.
_CACHE_TRIM_AT = 50_000


class StreamSink:
    """The stream cache, the recorded-seq bookkeeping and the numbering of nodes by index.

    ``names`` maps every node id the state file knows (this fleet's and, once seen on
    the stream, other fleets') to its integer index in the ledger.
    """

    def __init__(self, recorder: TickRecorder) -> None:
        self._recorder = recorder
        self._cache: dict[int, tuple[int | None, int | None]] = {}
        # The first receipt of each seq not every dashboard is past yet (see ``trim``).
        self._first: dict[int, dict[str, Any]] = {}
        self._names: dict[str, int] = {}
        self._next_idx = 1
        self._hw = 0
        self._holes: set[int] = set()

    def set_names(self, names: dict[str, int]) -> None:
        """The node indexes the state file holds; new nodes are numbered after them."""
        self._names = names
        self._next_idx = max(names.values(), default=0) + 1

    def index_of(self, node_id: str) -> int | None:
        return self._names.get(node_id)

    def resume(self, recorded: tuple[int, set[int]], floor: int) -> None:
        """Start from the stream already recorded (high-water mark, holes), or, when none
        is, from ``floor`` (the dashboards' resume point: nothing below it will come)."""
        self._hw, self._holes = recorded
        if self._hw == 0:
            self._hw = floor

    def trim(self, dashboards: Sequence[DashboardClient]) -> None:
        """Drop the first receipts every dashboard still running is past (each second, so
        few events are held), and the cache entries once the cache is big."""
        live = [d.last_seq for d in dashboards if d.fatal is None]
        if not live:
            self._first.clear()
            return
        floor = min(live)
        if self._first:
            self._first = {k: v for k, v in self._first.items() if k > floor}
        if len(self._cache) > _CACHE_TRIM_AT:
            self._cache = {k: v for k, v in self._cache.items() if k > floor}

    # -- DashboardSink -------------------------------------------------------

    @property
    def batch(self) -> TickBatch:
        return self._recorder.batch

    @property
    def stream_cache(self) -> dict[int, tuple[int | None, int | None]]:
        return self._cache

    @property
    def first_events(self) -> dict[int, dict[str, Any]]:
        return self._first

    def stream_info(self, seq: int, event: dict[str, Any]) -> tuple[int | None, int | None]:
        """Parse an event seen for the first time; record it unless recorded before."""
        committed_us, captured_us, node_id, node_seq = event_times(event)
        info = (committed_us, captured_us)
        self._cache[seq] = info
        hw = self._hw
        if seq > hw:
            if seq > hw + 1:
                self._holes.update(range(hw + 1, seq))
            self._hw = seq
        elif seq in self._holes:
            self._holes.discard(seq)
        else:
            # Recorded before (e.g. before a restart of this process): with no first
            # receipt here, every dashboard records the hash of what it got.
            return info
        self._first[seq] = event
        batch = self._recorder.batch
        nidx: int | None = None
        if node_id is not None:
            nidx = self._names.get(node_id)
            if nidx is None:  # another fleet's node: numbered here, stored with this batch
                nidx = self._names[node_id] = self._next_idx
                self._next_idx += 1
                batch.new_nodes.append((nidx, node_id))
        etype = event.get("type")
        kind = KIND_CODES.get(str(etype), 0)
        data = event.get("data")
        digest = (stored_content_hash(data)
                  if etype == EVENT_DETECTION and isinstance(data, dict) else None)
        batch.stream.append((seq, kind, nidx, node_seq, committed_us, captured_us, digest))
        return info
