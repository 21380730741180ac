"""Dead-letter records: the original bytes, where they came from, and why they were parked."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DeadLetter(BaseModel):
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    key: str | None = None
    agent: str
    reason: str  # short and stable: used as a metric label and a header
    error: str  # human-readable detail
    payload: str  # the original value, already redacted of card data
    at: datetime
