"""The stall watchdog's decision: seek back only a partition stuck twice with nothing of it in
progress. Kafka and Faust are stood in for by small objects with the same few members."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from faust.types import TP

from stream.health import Liveness
from stream.stall_watchdog import StallWatchdog

TP0 = TopicPartition("t.payments", 0)
TP1 = TopicPartition("t.payments", 1)


class Offsets:
    def __init__(self, rounds: list[dict[TopicPartition, tuple[int, int]]]) -> None:
        self.rounds = rounds

    async def positions(self, partitions: list[TopicPartition]) -> dict[Any, tuple[int, int]]:
        return self.rounds.pop(0)


class Consumer:
    def __init__(self) -> None:
        self._unacked_messages: set[Any] = set()
        self.seeks: list[tuple[str, int, int]] = []

    def assignment(self) -> set[TP]:
        # A table changelog is assigned too; recovering it is Faust's business, not ours.
        return {TP(TP0.topic, 0), TP(TP1.topic, 1), TP("app-counts-changelog", 0)}

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp.topic, tp.partition, offset))


def watchdog(
    rounds: list[dict[TopicPartition, tuple[int, int]]], in_transaction: bool = False
) -> tuple[StallWatchdog, Consumer]:
    consumer = Consumer()
    tables = SimpleNamespace(changelog_topics={"app-counts-changelog"})
    app: Any = SimpleNamespace(consumer=consumer, tables=tables, in_transaction=in_transaction)
    offsets: Any = Offsets(rounds)
    return StallWatchdog(app, offsets), consumer


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


@dataclass(frozen=True)
class Held:
    """A message an agent holds unacknowledged, with the members Faust's Message has."""

    tp: TP
    offset: int


def held(tp: TopicPartition, offset: int) -> Held:
    return Held(TP(tp.topic, tp.partition), offset)


async def test_work_in_progress_is_never_interrupted(caplog: pytest.LogCaptureFixture) -> None:
    stuck = {TP0: (5, 6), TP1: (3, 3)}
    dog, consumer = watchdog([stuck, stuck, stuck, stuck])
    assert await dog.check() == []
    consumer._unacked_messages.add(held(TP0, 5))  # an agent holds the record (a sink outage)
    assert await dog.check() == []
    assert await dog.check() == []
    # Said once, with the offset an operator should look at.
    said = [r.getMessage() for r in caplog.records if "in progress here" in r.getMessage()]
    assert said == [
        "partition t.payments-0 has not moved from offset 5 (end 6); offsets still "
        "in progress here: [5]"
    ]
    consumer._unacked_messages.clear()
    assert await dog.check() == [TP0]
    assert consumer.seeks == [("t.payments", 0, 5)]


async def test_a_record_held_on_one_partition_does_not_keep_another_stuck() -> None:
    stuck = {TP0: (5, 6), TP1: (2, 3)}
    dog, consumer = watchdog([stuck, stuck])
    consumer._unacked_messages.add(held(TP1, 2))
    assert await dog.check() == []
    assert await dog.check() == [TP0]
    assert consumer.seeks == [("t.payments", 0, 5)]


async def test_under_exactly_once_the_last_commit_marker_is_not_a_stall() -> None:
    # Read to the end: the commit marker at offset 6 is never delivered, so 6 is committed.
    at_end = {TP0: (6, 7), TP1: (3, 3)}
    dog, consumer = watchdog([at_end, at_end], in_transaction=True)
    assert await dog.check() == []
    assert await dog.check() == []
    # Two records behind is a stall all the same.
    dog.offsets.rounds = [{TP0: (5, 7), TP1: (3, 3)}, {TP0: (5, 7), TP1: (3, 3)}]  # type: ignore[attr-defined]
    assert await dog.check() == []
    assert await dog.check() == [TP0]
    assert consumer.seeks == [("t.payments", 0, 5)]


async def test_each_look_is_reported_to_liveness() -> None:
    clock = [0.0]
    live = Liveness(60, clock=lambda: clock[0])
    live.group(True)
    stuck = {TP0: (5, 6), TP1: (2, 3)}
    dog, consumer = watchdog([stuck, stuck, stuck])
    dog.liveness = live
    consumer._unacked_messages.add(held(TP1, 2))  # in progress: waiting, not stalled
    await dog.check()
    clock[0] = 10
    await dog.check()  # TP0 read again by the watchdog...
    assert live.report()[1]["reasons"] == ["partition t.payments-0 stalled at offset 5 for 10 s"]
    clock[0] = 71
    await dog.check()  # ...but it did not move: the worker gives up on it
    reason = live.give_up()
    assert reason is not None and "t.payments-0" in reason


@dataclass(frozen=True)
class Queued:
    """An event in an agent's channel queue, with the member Faust's Event has."""

    message: Any


def channel_with(*messages: Any) -> Any:
    # Faust's channels keep their FlowControlQueue in ``_queue``, an asyncio.Queue (``_queue``).
    return SimpleNamespace(_queue=SimpleNamespace(_queue=[Queued(m) for m in messages]))


async def test_records_queued_behind_a_held_batch_are_not_a_stall() -> None:
    # The sink holds a batch of TP1's records; TP0's records wait in its channel's queue,
    # handed on by the consumer but not yet taken by the stream: not tracked, not acked.
    stuck = {TP0: (5, 9), TP1: (2, 3)}
    dog, consumer = watchdog([stuck, stuck, stuck])
    consumer._unacked_messages.add(held(TP1, 2))
    dog.app.topics = [channel_with(), channel_with(held(TP0, 6), held(TP0, 5))]  # type: ignore[assignment]
    assert dog.waiting() == {TP0: 5}
    assert await dog.check() == []
    assert await dog.check() == []
    dog.app.topics = [channel_with()]  # type: ignore[assignment]  # taken and lost: a stall
    assert await dog.check() == [TP0]


class SlowOffsets(Offsets):
    """The broker's answer reflects the group as it was when the ask began; a commit ends
    while the ask is under way."""

    def __init__(self, rounds: list[dict[TopicPartition, tuple[int, int]]], consumer: Any) -> None:
        super().__init__(rounds)
        self.consumer = consumer

    async def positions(self, partitions: list[TopicPartition]) -> dict[Any, tuple[int, int]]:
        answer = await super().positions(partitions)
        self.consumer._committed_offset[TP(TP0.topic, 0)] += 3
        return answer


async def test_a_commit_that_ends_during_the_ask_is_not_a_stall() -> None:
    stuck = {TP0: (5, 9), TP1: (3, 3)}
    dog, consumer = watchdog([])
    consumer._committed_offset = {TP(TP0.topic, 0): 5}  # type: ignore[attr-defined]
    dog.offsets = SlowOffsets([stuck, stuck], consumer)  # type: ignore[assignment]
    assert await dog.check() == []
    assert await dog.check() == []
    assert consumer.seeks == []
