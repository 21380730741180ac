"""Where PayTrace is and how to log in.

From the environment (``PAYSTREAM_PAYTRACE_*``), the secrets directory or the config file's
``paytrace`` section (connectors/base/settings.py).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from connectors.base.settings import FileBackedSettings


class PayTraceSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_PAYTRACE_", title="paytrace")

    # No defaults for where and who: https://api.paytrace.com in production, the sandbox's
    # values from stream/sandbox.py elsewhere.
    base_url: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password: SecretStr
    integrator_id: str | None = None
    # PayTrace reports created/settled times in the merchant's local time, without an offset.
    timezone: str = "UTC"
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError, OSError) as exc:  # "America" is a directory: OSError
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
