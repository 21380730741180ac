"""Fakes for testing a source without a broker: an in-memory position store and a publisher
that records what was acknowledged (or refuses, to show the position does not move)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from stream.runtime.processor import Emit

M = TypeVar("M", bound=BaseModel)


class MemoryPositions:
    """Stands in for CompactedPosition: values as the compacted topic would hold them."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.reads = 0
        self.closed = False

    async def get(self, key: str, model: type[M]) -> M | None:
        self.reads += 1
        raw = self.values.get(key)
        return model.model_validate_json(raw) if raw is not None else None

    async def put(self, key: str, value: BaseModel) -> None:
        self.values[key] = value.model_dump_json().encode()

    def forget(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True


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
