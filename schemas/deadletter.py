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
    payload: str  # the original value, redacted of card data and cut to a bounded size
    # SHA-256 of the whole original (to match it when cut), as hex bytes joined by colons
    payload_sha256: str | None = None
    payload_bytes: int | None = None  # the original's size
    payload_complete: bool = True  # False when the payload was cut to bound the dead letter
    at: datetime
