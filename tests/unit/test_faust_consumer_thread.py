"""Fixes 7 and 8 (stream/faust_consumer_thread.py): seeks on the consumer thread, and every
buffered partition gets its turn when one partition has a large backlog fetched."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition
from aiokafka.consumer.fetcher import Fetcher, FetchResult
from faust.transport.consumer import ThreadDelegateConsumer
from faust.types import TP

from stream import faust_commit_guard, faust_consumer_thread
from stream.stall_watchdog import StallWatchdog

RAW0, RAW1 = TopicPartition("raw", 0), TopicPartition("raw", 1)
PAYMENTS = TopicPartition("payments", 0)


class _Records:
    """What aiokafka's ``PartitionRecords`` gives ``FetchResult``: records and the next offset."""

    def __init__(self, offsets: range) -> None:
        self._it = iter(offsets)
        self.next_fetch_offset = offsets.start

    def __iter__(self) -> _Records:
        return self

    def __next__(self) -> int:
        offset = next(self._it)
        self.next_fetch_offset = offset + 1
        return offset


class _State:
    paused = False

    def __init__(self, position: int) -> None:
        self.position = position

    def consumed_to(self, offset: int) -> None:
        self.position = offset


def fetcher_with(backlogs: dict[TopicPartition, int]) -> Any:
    """A stand-in for aiokafka's Fetcher holding real FetchResults, one per partition,
    buffered in this order (a broker that answers with a partition's whole backlog)."""
    states = {tp: _State(0) for tp in backlogs}
    assignment = SimpleNamespace(active=True, state_value=states.__getitem__)
    records = {
        tp: FetchResult(tp, assignment=assignment, partition_records=_Records(range(n)), backoff=0)
        for tp, n in backlogs.items()
    }
    return SimpleNamespace(
        _records=records,
        _subscriptions=SimpleNamespace(reassignment_in_progress=False, is_assigned=bool),
        _wait_consume_future=None,
        _notify=lambda future: None,
    )


def aiokafkas_own() -> Any:
    current = Fetcher.fetched_records
    return getattr(current, "__wrapped__", current)


async def calls_until_served(fetch: Any, fetcher: Any, tp: TopicPartition) -> int:
    for call in range(1, 100):
        drained = await fetch(fetcher, {RAW0, RAW1, PAYMENTS}, 0, 500)
        if tp in drained:
            return call
    raise AssertionError("never served")


async def test_aiokafka_alone_serves_a_partition_only_after_the_backlogs_before_it() -> None:
    fetcher = fetcher_with({RAW0: 5_000, RAW1: 5_000, PAYMENTS: 10})
    # Ten batches of 500 for the raw partitions first: the payments wait for all of them.
    assert await calls_until_served(aiokafkas_own(), fetcher, PAYMENTS) == 21


async def test_every_buffered_partition_gets_its_turn() -> None:
    fixed = faust_consumer_thread._fair_fetched_records(aiokafkas_own())
    fetcher = fetcher_with({RAW0: 5_000, RAW1: 5_000, PAYMENTS: 10})
    assert await calls_until_served(fixed, fetcher, PAYMENTS) == 3
    # And nothing is lost or repeated on the way: every raw record once, in order.
    seen: dict[TopicPartition, list[int]] = {RAW0: [], RAW1: []}
    fetcher = fetcher_with({RAW0: 5_000, RAW1: 5_000})
    while fetcher._records:
        for tp, got in (await fixed(fetcher, {RAW0, RAW1}, 0, 500)).items():
            assert len(got) <= 500
            seen[tp].extend(got)
    assert seen == {RAW0: list(range(5_000)), RAW1: list(range(5_000))}


def test_a_partition_drained_in_part_goes_to_the_back() -> None:
    records = {RAW0: "rest", RAW1: "rest", PAYMENTS: "rest"}
    faust_consumer_thread.rotate_drained(records, {RAW0: [1], "gone": [2]})
    assert list(records) == [RAW1, PAYMENTS, RAW0]


class _ConsumerThread:
    """A consumer thread with its own running loop, as Faust's ``ConsumerThread``."""

    def __init__(self) -> None:
        self.thread_loop = asyncio.new_event_loop()
        self.seeks: list[tuple[Any, int, str]] = []
        self._thread = threading.Thread(target=self.thread_loop.run_forever, daemon=True)
        self._thread.start()

    def seek(self, partition: Any, offset: int) -> None:
        self.seeks.append((partition, offset, threading.current_thread().name))

    async def call_thread(self, fun: Any, *args: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(self._call(fun, *args), self.thread_loop)
        return await asyncio.wrap_future(future)

    async def _call(self, fun: Any, *args: Any) -> Any:
        return fun(*args)

    def stop(self) -> None:
        self.thread_loop.call_soon_threadsafe(self.thread_loop.stop)
        self._thread.join(5)


async def test_a_seek_runs_on_the_consumer_thread() -> None:
    thread = _ConsumerThread()
    try:
        consumer = SimpleNamespace(_thread=thread)
        faust_own = getattr(ThreadDelegateConsumer._seek, "__wrapped__", None)
        seek = faust_consumer_thread._seek_on_consumer_thread(
            faust_own or ThreadDelegateConsumer._seek
        )
        await seek(consumer, PAYMENTS, 7)  # type: ignore[arg-type]
        assert thread.seeks == [(PAYMENTS, 7, thread._thread.name)]
    finally:
        thread.stop()


async def test_with_no_consumer_thread_running_it_seeks_as_faust_does() -> None:
    thread = _ConsumerThread()
    thread.stop()
    consumer = SimpleNamespace(_thread=thread)
    seek = faust_consumer_thread._seek_on_consumer_thread(ThreadDelegateConsumer._seek)
    await seek(consumer, PAYMENTS, 3)  # type: ignore[arg-type]
    assert thread.seeks == [(PAYMENTS, 3, threading.current_thread().name)]


def test_apply_patches_once() -> None:
    faust_consumer_thread.apply()
    seek, fetched = ThreadDelegateConsumer._seek, Fetcher.fetched_records
    faust_consumer_thread.apply()
    assert ThreadDelegateConsumer._seek is seek
    assert Fetcher.fetched_records is fetched
    assert seek.__wrapped__.__qualname__ == "ThreadDelegateConsumer._seek"  # type: ignore[attr-defined]


def consumer_waiting(batch: dict[Any, list[Any]], buffered: dict[Any, Any]) -> Any:
    fetcher = SimpleNamespace(_records=buffered)
    consumer = SimpleNamespace(
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_fetcher=fetcher)),
        _unacked_messages=set(),
        seeks=[],
    )
    setattr(consumer, faust_consumer_thread.CURRENT_BATCH, batch)
    return consumer


def test_records_fetched_and_not_handed_on_are_waiting() -> None:
    in_buffer = SimpleNamespace(_partition_records=SimpleNamespace(next_fetch_offset=40))
    emptied = SimpleNamespace(_partition_records=None)  # consumed meanwhile
    an_error = SimpleNamespace()  # aiokafka's FetchError: no records
    consumer = consumer_waiting(
        {RAW0: [SimpleNamespace(offset=7), SimpleNamespace(offset=8)], RAW1: []},
        {PAYMENTS: in_buffer, RAW1: emptied, TopicPartition("dead", 0): an_error},
    )
    assert faust_consumer_thread.waiting_to_be_handed_on(consumer) == {
        TP("raw", 0): 7,
        TP("payments", 0): 40,
    }
    assert faust_consumer_thread.waiting_to_be_handed_on(SimpleNamespace()) == {}


async def test_the_watchdog_leaves_a_partition_waiting_for_its_turn() -> None:
    class Offsets:
        async def positions(self, partitions: Any) -> dict[Any, tuple[int, int]]:
            return {PAYMENTS: (0, 900)}

    in_buffer = SimpleNamespace(_partition_records=SimpleNamespace(next_fetch_offset=0))
    consumer = consumer_waiting({}, {PAYMENTS: in_buffer})
    consumer.assignment = lambda: {TP("payments", 0)}

    async def seek(tp: Any, offset: int) -> None:
        consumer.seeks.append((tp, offset))

    consumer.seek = seek
    app: Any = SimpleNamespace(
        consumer=consumer,
        tables=SimpleNamespace(changelog_topics=set()),
        in_transaction=False,
    )
    dog = StallWatchdog(app, Offsets())  # type: ignore[arg-type]
    for _ in range(3):
        assert await dog.check() == []
    consumer._thread._consumer._fetcher._records.clear()  # fetched and lost: a stall
    await dog.check()
    assert consumer.seeks == [(TP("payments", 0), 0)]


async def test_a_partition_whose_commit_is_under_way_is_not_stalled() -> None:
    class Offsets:
        async def positions(self, partitions: Any) -> dict[Any, tuple[int, int]]:
            return {PAYMENTS: (10, 900)}

    consumer = consumer_waiting({}, {})
    consumer.assignment = lambda: {TP("payments", 0)}

    async def seek(tp: Any, offset: int) -> None:
        consumer.seeks.append((tp, offset))

    consumer.seek = seek
    app: Any = SimpleNamespace(
        consumer=consumer, tables=SimpleNamespace(changelog_topics=set()), in_transaction=False
    )
    dog = StallWatchdog(app, Offsets())  # type: ignore[arg-type]

    async def flush_then_commit(self: Any, offsets: Any, *args: Any) -> bool:
        # Faust flushes the producer first: the watchdog looks twice meanwhile.
        assert faust_commit_guard.committing(self) == {TP("payments", 0): 25}
        assert await dog.check() == []
        assert await dog.check() == []
        return True

    commit = faust_commit_guard.note_committing(flush_then_commit)
    assert await commit(consumer, {TP("payments", 0): 25})
    assert faust_commit_guard.committing(consumer) == {}
    assert consumer.seeks == []
    await dog.check()  # the group offset still at 10 after the commit: stalled after all
    assert consumer.seeks == [(TP("payments", 0), 10)]
