"""The emulator's notion of now, shiftable for tests, and its merchant-local calendar."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from connectors.paytrace.models import format_export_time


class EmulatorClock:
    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.offset_seconds = 0.0

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def local(self, epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, self.zone)

    def today(self) -> date:
        return self.local(self.now()).date()

    def export_time(self, epoch: float | None) -> str:
        """PayTrace's ``M/D/YYYY h:mm:ss AM`` in merchant-local time; "" for none."""
        return "" if epoch is None else format_export_time(self.local(epoch))

    def day_span(self, first: date, last: date) -> tuple[float, float]:
        """Epoch bounds [start, end) covering local days ``first``..``last`` (DST-safe)."""
        start = datetime(first.year, first.month, first.day, tzinfo=self.zone)
        after = last + timedelta(days=1)
        end = datetime(after.year, after.month, after.day, tzinfo=self.zone)
        return start.timestamp(), end.timestamp()
