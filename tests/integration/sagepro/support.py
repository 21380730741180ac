"""What the Sage Pro contract and resilience tests share."""

from __future__ import annotations

from datetime import date

from connectors.base.retry import RetryPolicy
from stream.sandbox import SAGEPRO_API_KEY as KEY  # noqa: F401 - re-exported for the tests

FAST = RetryPolicy(attempts=4, initial_seconds=0.01, max_seconds=0.2, total_seconds=5)
DAY = date(2024, 5, 1)
