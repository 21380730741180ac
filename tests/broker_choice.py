"""Which Kafka the tests run on, decided in one place (the session fixture and tests that
measure broker-specific behaviour both ask here)."""

from __future__ import annotations

import os
from typing import Literal

BrokerChoice = Literal["external", "testcontainers", "embedded"]


def broker_choice() -> BrokerChoice:
    """``PAYSTREAM_KAFKA_BOOTSTRAP`` set: that cluster; ``PAYSTREAM_TEST_BROKER=testcontainers``:
    Apache Kafka in a container; otherwise the embedded noida-db broker."""
    if os.environ.get("PAYSTREAM_KAFKA_BOOTSTRAP"):
        return "external"
    if os.environ.get("PAYSTREAM_TEST_BROKER") == "testcontainers":
        return "testcontainers"
    return "embedded"
