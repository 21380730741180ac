"""Raw source records as published by source agents, before any validation."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class RawPayTraceTransaction(BaseModel):
    """One PayTrace export record (as the API returned it, redacted) and how we got it."""

    source: Literal["poll", "push", "replay"] = "poll"
    fetched_at: datetime
    merchant_timezone: str = "UTC"
    record: dict[str, Any]
