"""When the PayTrace poller reads its export window again: an adaptive interval.

PayTrace's ``export/by_date_range`` filters by whole merchant-local days and pages by nothing
(see connectors/paytrace/EMULATOR.md, "What the export can filter by"), so every read returns
the whole window: all of today plus the older days that still hold an open transaction. At
100,000 transactions a day, reading that every 5 seconds downloads the day thousands of times.
The real-time path is the push ingress (``POST /v1/payments``) and the charge agent's own
sales; this poll is the safety net that cannot miss anything, and its cost is set here:

- a window of at most ``free_records`` records is cheap: read at the base interval;
- otherwise the next read waits until enough new or changed transactions are expected that
  the read costs about ``ratio`` records per one of them: with ``W`` records in the window and
  ``r`` fresh records a second, the next read returns ``W + r*T`` records for ``r*T`` fresh
  ones, so ``T = W / (r * (ratio - 1))`` (busy: sooner; a large quiet window: later);
- a read that found nothing fresh doubles the interval (idle), up to ``ceiling``;
- never sooner than ``base`` nor later than ``ceiling`` (the safety net's longest gap).
"""

from __future__ import annotations

from dataclasses import dataclass

IDLE_SMALL_CEILING_FACTOR = 8  # an idle small window backs off to 8 base intervals at most


@dataclass
class SweepSchedule:
    base: float  # seconds: the shortest interval (PAYSTREAM_POLL_INTERVAL_SECONDS)
    ceiling: float  # seconds: the longest (PAYSTREAM_POLL_MAX_INTERVAL_SECONDS)
    ratio: float  # records downloaded per new or changed transaction aimed at
    free_records: int  # a window this small is read at the base interval
    interval: float = 0.0
    next_at: float = 0.0  # monotonic seconds; 0: due now
    last_at: float | None = None
    rate: float | None = None  # fresh records per second, smoothed

    def __post_init__(self) -> None:
        self.interval = self.base
        self.ceiling = max(self.ceiling, self.base)
        self.ratio = max(self.ratio, 1.01)

    def due(self, now: float) -> bool:
        # A timer tick may fire a little early: within a tenth of the base interval is due.
        return now >= self.next_at - 0.1 * self.base

    def observe(self, now: float, downloaded: int, fresh: int) -> float:
        """Book one successful read at ``now``; returns the interval until the next one."""
        first = self.last_at is None
        if self.last_at is not None:
            # The first read's fresh records are a backlog, not a pace: no rate from it.
            seen = fresh / max(now - self.last_at, 1e-3)
            # Halfway smoothing: one quiet or busy read moves the estimate, not replaces it.
            self.rate = seen if self.rate is None else 0.5 * self.rate + 0.5 * seen
        self.last_at = now
        if first:
            wanted = self.base
        elif fresh == 0:
            cap = self.ceiling
            if downloaded <= self.free_records:
                cap = min(self.ceiling, self.base * IDLE_SMALL_CEILING_FACTOR)
            wanted = min(cap, max(self.base, self.interval * 2))
        elif downloaded <= self.free_records:
            wanted = self.base
        else:
            wanted = downloaded / (max(self.rate or 0.0, 1e-9) * (self.ratio - 1.0))
        self.interval = min(self.ceiling, max(self.base, wanted))
        self.next_at = now + self.interval
        return self.interval

    def hurry(self) -> None:
        """Read at the next tick (e.g. after a settlement changed every open record)."""
        self.next_at = 0.0
