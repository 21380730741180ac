"""The stall watchdog's decision: seek back only a partition stuck twice with nothing in
progress. Kafka and Faust are stood in for by small objects with the same few members."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from agents.stall_watchdog import StallWatchdog

TP0 = TopicPartition("t.payments", 0)
TP1 = TopicPartition("t.payments", 1)


class Lag:
    def __init__(self, rounds: list[dict[TopicPartition, tuple[int, int]]]) -> None:
        self.rounds = rounds

    def assigned(self) -> list[TopicPartition]:
        return [TP0, TP1]

    async def positions(self, partitions: list[TopicPartition]) -> dict[Any, tuple[int, int]]:
        return self.rounds.pop(0)


class Consumer:
    def __init__(self) -> None:
        self._unacked_messages: set[object] = set()
        self.seeks: list[tuple[str, int, int]] = []

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp.topic, tp.partition, offset))


def watchdog(rounds: list[dict[TopicPartition, tuple[int, int]]]) -> tuple[StallWatchdog, Consumer]:
    consumer = Consumer()
    ctx: Any = SimpleNamespace(app=SimpleNamespace(consumer=consumer))
    return StallWatchdog(ctx, Lag(rounds)), consumer  # type: ignore[arg-type]


async def test_a_partition_stuck_twice_is_read_again() -> None:
    dog, consumer = watchdog([{TP0: (5, 6), TP1: (3, 3)}, {TP0: (5, 6), TP1: (3, 3)}])
    assert await dog.check() == []
    assert await dog.check() == [TP0]
    assert consumer.seeks == [("t.payments", 0, 5)]


async def test_progress_between_checks_is_not_a_stall() -> None:
    dog, consumer = watchdog([{TP0: (5, 9), TP1: (3, 3)}, {TP0: (7, 9), TP1: (3, 3)}])
    assert await dog.check() == []
    assert await dog.check() == []
    assert consumer.seeks == []


async def test_work_in_progress_is_never_interrupted() -> None:
    dog, consumer = watchdog([{TP0: (5, 6), TP1: (3, 3)}, {TP0: (5, 6), TP1: (3, 3)}])
    assert await dog.check() == []
    consumer._unacked_messages.add(object())  # an agent holds a record (e.g. a sink outage)
    assert await dog.check() == []
    consumer._unacked_messages.clear()
    # The suspicion was reset: it takes two quiet observations again.
    dog.lag.rounds = [{TP0: (5, 6), TP1: (3, 3)}, {TP0: (5, 6), TP1: (3, 3)}]  # type: ignore[attr-defined]
    assert await dog.check() == []
    assert await dog.check() == [TP0]
    assert consumer.seeks == [("t.payments", 0, 5)]
