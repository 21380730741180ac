"""Fakes for testing a source without a broker: the in-memory position store the poller
benchmark uses too, and a publisher that records what was acknowledged (or refuses, to show
the position does not move)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.poller_harness import MemoryPositions
from stream.runtime.processor import Emit


class Publisher:
    """Replaces ``Source.publish``: records what the broker acknowledged, or raises ``fail``."""

    def __init__(self) -> None:
        self.records: list[Emit] = []
        self.fail: BaseException | None = None

    async def __call__(self, records: Sequence[Emit]) -> None:
        if self.fail is not None:
            raise self.fail
        self.records.extend(records)


def wired(flow: Any) -> tuple[MemoryPositions, Publisher]:
    """``flow`` with its position store and publisher replaced by the fakes above."""
    positions, publisher = MemoryPositions(), Publisher()
    flow.positions = positions
    flow.publish = publisher
    return positions, publisher
