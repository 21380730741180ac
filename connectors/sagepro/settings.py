"""Where our Sage Pro contract is served and with which key (``PAYSTREAM_SAGEPRO_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.base.settings import FileBackedSettings


class SageProSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_SAGEPRO_", title="sagepro")

    # No defaults: a worker must be told where the books are and with which key
    # (the sandbox's values live in stream/sandbox.py only).
    base_url: str = Field(min_length=1)
    api_key: SecretStr
    # Sent as X-Company-ID when set: one Sage Pro install can keep several companies' books.
    company_id: str | None = None
    timeout_seconds: float = Field(default=15.0, gt=0)
    page_size: int = Field(default=200, ge=1, le=500)
    # Payments the sink writes at once (each key's still in order): Sage Pro answers one call
    # at a time per payment, so throughput is this many over a call's latency.
    max_in_flight: int = Field(default=32, ge=1, le=256)
