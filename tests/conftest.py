"""Shared fixtures: one real Kafka-protocol broker per test session.

The embedded noida-db broker by default; ``PAYSTREAM_TEST_BROKER=testcontainers`` runs Apache
Kafka in a container where Docker exists; ``PAYSTREAM_KAFKA_BOOTSTRAP`` uses a running cluster.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from stream.broker import EmbeddedBroker
from tests.broker_choice import broker_choice

# No per-example time limit: CI runs on a loaded 2-core machine, where a slow example is load,
# not a bug (a deadline would make property tests timed tests).
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    choice = broker_choice()
    if choice == "external":
        yield os.environ["PAYSTREAM_KAFKA_BOOTSTRAP"]
        return
    if choice == "testcontainers":
        if not _docker_available():
            pytest.skip("PAYSTREAM_TEST_BROKER=testcontainers but no Docker engine is reachable")
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    broker = EmbeddedBroker(Path(tmp_path_factory.mktemp("broker")) / "data")
    asyncio.run(broker.start())
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
