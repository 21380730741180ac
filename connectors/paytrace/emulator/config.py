"""The emulator's configuration: the one thing the ``paystream emulate paytrace`` CLI builds."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, field_validator


class EmulatorConfig(BaseModel):
    username: str = "demo"
    password: str = "demo-password"
    data_dir: Path | None = None  # None: in-memory SQLite, gone when the app stops
    timezone: str = "UTC"  # the merchant's zone; exports report local times in it

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def database(self) -> str:
        return ":memory:" if self.data_dir is None else str(self.data_dir / "paytrace.sqlite3")
