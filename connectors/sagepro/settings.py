"""Where our Sage Pro contract is served and with which key (``PAYSTREAM_SAGEPRO_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from stream.settings import FileBackedSettings


class SageProSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_SAGEPRO_", title="sagepro")

    base_url: str = "http://127.0.0.1:8083"
    api_key: SecretStr = SecretStr("demo-sage-key")
    # Sent as X-Company-ID when set: one Sage Pro install can keep several companies' books.
    company_id: str | None = None
    timeout_seconds: float = Field(default=15.0, gt=0)
    page_size: int = Field(default=200, ge=1, le=500)
