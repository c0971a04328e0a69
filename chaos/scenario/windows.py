"""What actually happened to each step: the fault windows the verdict and reports use."""

from __future__ import annotations

from dataclasses import dataclass

# pending: not reached yet; active: applied now; applied: applied and reverted on time;
# interrupted: applied, then reverted early because the run was cancelled;
# skipped: not applied because a capability was missing (reason says which and why);
# cancelled: the run ended before its start; failed: start or stop raised (reason says what).
WINDOW_STATUSES = ("pending", "active", "applied", "interrupted", "skipped", "cancelled",
                   "failed")


@dataclass
class FaultWindow:
    """One step's actual window. Times are wall-clock epoch seconds (like ``committed_at``);
    ``started_at`` is taken before the fault is applied and ``ended_at`` after it is reverted,
    so the window covers the whole fault."""

    step_index: int
    kind: str
    description: str
    link: str | None
    planned_at_s: float
    planned_for_s: float
    status: str = "pending"
    started_at: float | None = None
    ended_at: float | None = None
    reason: str = ""

    @property
    def took_effect(self) -> bool:
        """True when the fault was (at least partly) in force, so it shades the plots."""
        return self.started_at is not None and self.status in (
            "active", "applied", "interrupted", "failed")

    def contains(self, t: float) -> bool:
        if not self.took_effect or self.started_at is None:
            return False
        end = self.ended_at if self.ended_at is not None else float("inf")
        return self.started_at <= t <= end

    def overlaps(self, start: float, end: float) -> bool:
        if not self.took_effect or self.started_at is None:
            return False
        window_end = self.ended_at if self.ended_at is not None else float("inf")
        return start <= window_end and self.started_at <= end
