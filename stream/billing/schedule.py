"""A subscription's charge dates, pure calendar arithmetic (no clock, no I/O).

Month-based frequencies keep an anchor day: the 31st charges on the last day of a short month
and on the 31st again when the month has one; an annual anchor of 29 February charges on the
28th in common years. Day-based frequencies step from the start date. Dates are the merchant's
local dates: the caller turns "now" into one (stream/billing/clock.py).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

MAX_PERIODS = 100_000  # a bound on every walk: no schedule input loops forever


class Frequency(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUAL = "annual"
    EVERY_N_DAYS = "every_n_days"


MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}


def on_day(year: int, month: int, anchor: int) -> date:
    """``anchor`` in that month, or its last day when the month is shorter."""
    return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class Schedule:
    frequency: Frequency
    start: date
    anchor_day: int | None = None  # 1..31, month-based only; default: the start's day
    interval_days: int = 1  # every_n_days only
    end: date | None = None  # last day a charge may fall on (inclusive)
    total_count: int | None = None  # at most this many periods

    def __post_init__(self) -> None:
        if self.anchor_day is not None and not 1 <= self.anchor_day <= 31:
            raise ValueError(f"anchor day {self.anchor_day} is not 1..31")
        if self.frequency is Frequency.EVERY_N_DAYS and not 1 <= self.interval_days <= 3660:
            raise ValueError(f"every {self.interval_days} days is not 1..3660")
        if self.total_count is not None and self.total_count < 0:
            raise ValueError("total count is negative")

    @property
    def anchor(self) -> int:
        return self.anchor_day or self.start.day

    def _offset(self) -> int:
        """Months from the start's month to the first month-based charge (0 or 1)."""
        first = on_day(self.start.year, self.start.month, self.anchor)
        return 0 if first >= self.start else 1

    def nth(self, n: int) -> date:
        """Period ``n``'s charge date (0-based), ignoring the end date and count."""
        if n < 0:
            raise ValueError("period index is negative")
        if self.frequency is Frequency.WEEKLY:
            return self.start + timedelta(days=7 * n)
        if self.frequency is Frequency.EVERY_N_DAYS:
            return self.start + timedelta(days=self.interval_days * n)
        months = self._offset() + n * MONTHS[self.frequency]
        year, month = add_months(self.start.year, self.start.month, months)
        return on_day(year, month, self.anchor)

    def in_force(self, n: int) -> bool:
        """Whether period ``n`` is billed at all (count and end date)."""
        if self.total_count is not None and n >= self.total_count:
            return False
        return self.end is None or self.nth(n) <= self.end

    def index_after(self, day: date | None) -> int:
        """The index of the first charge date strictly after ``day`` (0 for None)."""
        if day is None or day < self.start:
            return 0
        if self.frequency in (Frequency.WEEKLY, Frequency.EVERY_N_DAYS):
            step = 7 if self.frequency is Frequency.WEEKLY else self.interval_days
            return (day - self.start).days // step + 1
        months = (day.year - self.start.year) * 12 + day.month - self.start.month
        n = max(0, (months - self._offset()) // MONTHS[self.frequency] - 1)
        for _ in range(4):  # the estimate is at most a period or two short
            if self.nth(n) > day:
                return n
            n += 1
        raise AssertionError("unreachable: a month-based step always passes a date")

    def next_after(self, day: date | None) -> date | None:
        """The first charge date strictly after ``day`` still in force, or None when done."""
        n = self.index_after(day)
        return self.nth(n) if self.in_force(n) else None

    def dates(self, until: date) -> list[date]:
        """Every charge date up to ``until`` (inclusive) in force."""
        found: list[date] = []
        for n in range(MAX_PERIODS):
            if not self.in_force(n) or self.nth(n) > until:
                break
            found.append(self.nth(n))
        return found
