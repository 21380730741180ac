"""The billing clock: wall time in production, a fast simulated time in tests and the demo.

Simulated time is a pure function of wall time and settings, so every worker process (and
one restarted after a SIGKILL) agrees on "now" without talking to the others:
``now = start + (wall - origin) * speed``, frozen at ``until`` when that is set (a test then
waits for the outcome of a known end state instead of racing a moving clock). Or a stepped
clock: ``file`` names a file holding the instant, which a test (or the demo) moves on and
every worker on the machine reads.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from stream.settings import FileBackedSettings


class ClockSettings(FileBackedSettings):
    """``PAYSTREAM_CLOCK_*``. No start: the wall clock."""

    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_CLOCK_", title="clock")

    start: datetime | None = None  # the simulated instant at ``origin``
    origin: datetime | None = None  # the wall instant simulated time starts at (default start)
    speed: float = Field(default=1.0, gt=0, le=10_000_000)
    until: datetime | None = None  # simulated time stops here
    file: Path | None = None  # a stepped clock: the instant is this file's text (ISO 8601)

    @model_validator(mode="after")
    def _aware(self) -> ClockSettings:
        for name in ("start", "origin", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"clock {name} needs a UTC offset")
        return self


class Clock:
    def __init__(self, settings: ClockSettings | None = None, wall: object = None) -> None:
        self.settings = settings or ClockSettings()
        self._wall = wall or time.time
        self._file_stamp: int | None = None
        self._file_now: datetime | None = None

    @property
    def simulated(self) -> bool:
        return self.settings.start is not None or self.settings.file is not None

    def _stepped(self, path: Path) -> datetime:
        """The file's instant (re-read only when the file changed); the last good one if it
        is being rewritten or unreadable, the wall clock before there is any."""
        try:
            stamp = path.stat().st_mtime_ns
            if stamp != self._file_stamp:
                moment = datetime.fromisoformat(path.read_text().strip())
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                self._file_stamp, self._file_now = stamp, moment
        except (OSError, ValueError):
            pass
        return self._file_now or datetime.fromtimestamp(self._wall(), UTC)  # type: ignore[operator]

    def now(self) -> datetime:
        s = self.settings
        if s.file is not None:
            return self._stepped(s.file)
        wall = datetime.fromtimestamp(self._wall(), UTC)  # type: ignore[operator]
        if s.start is None:
            return wall
        origin = s.origin or s.start
        moment = s.start + timedelta(seconds=(wall - origin).total_seconds() * s.speed)
        return min(moment, s.until) if s.until is not None else moment

    def today(self, zone: str) -> date:
        """The merchant's local date now."""
        return self.now().astimezone(ZoneInfo(zone)).date()

    def wall_seconds(self, days: float) -> float:
        """How long ``days`` of billing time take on the wall (tick intervals scale with it)."""
        return days * 86400 / self.settings.speed
