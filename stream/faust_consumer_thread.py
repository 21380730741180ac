"""Fixes 7 and 8 (faust-streaming 0.15.3, aiokafka 0.14, noida-db 0.2.3): backlogs.

7. Faust runs aiokafka in a thread of its own (``ConsumerThread``, its own event loop) and
   reaches it through ``call_thread``, except for ``seek``: ``ThreadDelegateConsumer._seek``
   calls ``AIOKafkaConsumerThread.seek``, hence aiokafka's ``Fetcher.seek_to``, straight from
   the main thread. ``seek_to`` deletes the partition's entry of ``Fetcher._records`` and
   completes ``_wait_consume_future``, both owned by the consumer thread, which meanwhile walks
   ``_records`` (``fetched_records`` takes ``list(self._records.keys())`` and then indexes and
   deletes by key; ``_get_actions_per_node`` does ``if tp in ...: self._records[tp]``). A seek
   landing between the two is a ``KeyError(TopicPartition(...))``, which in ``fetched_records``
   ends Faust's fetcher: issue 15's crash at 50,000 records ("Stopping...", then a hung
   worker), where every seek was the stall watchdog's or fix 2's, made from the main thread.
   Reproduced alone: 221 such errors in 230,600 ``fetched_records`` calls with ``seek_to``
   looping on another thread. A seek can also be overwritten by a ``getall`` in progress (it
   sets the position after reading), and a future completed from the wrong thread does not
   wake its loop. We make the seek a ``call_thread`` like every other call into aiokafka.

8. aiokafka's ``Fetcher.fetched_records`` drains ``_records`` from its first entry, and a
   partition's entry stays first until all of it was consumed. With Faust's default
   ``broker_max_poll_records`` (None) one ``getmany`` takes every buffered record; noida-db
   ignores ``max_partition_fetch_bytes`` and answers a fetch with everything up to the end
   (a whole 10,000-record raw backlog came in one response, 2026-11-29), so one Faust batch
   was the whole backlog and the drain loop handed nothing else on until the normalizer had
   taken all of it: the payments partitions waited, already fetched, with nothing in progress
   (the watchdog sought them again and again) and the sinks wrote nothing until then.
   ``stream/app.py`` caps a batch (``MAX_POLL_RECORDS``) and here a partition drained only in
   part goes to the back of the line, so every buffered partition gets its turn. A partition
   waiting for its turn is not stalled: ``waiting_to_be_handed_on`` tells the stall watchdog
   (under load a turn came after 20 s and more, and a seek would only send it to the back).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from faust.transport.consumer import ThreadDelegateConsumer
from faust.types import TP

_APPLIED_MARK = "_paystream_fix"
# Fix 2 (stream/faust_fixes.py) keeps the records of Faust's batch in hand under this name.
CURRENT_BATCH = "_paystream_fetched"

# Records per getmany: a batch is handed on in about a second at the normalizer's pace, so a
# partition waits at most a few batches for its turn (Kafka's own max.poll.records default).
MAX_POLL_RECORDS = 500


def _seek_on_consumer_thread(
    original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(original)  # Faust's own stays reachable as ``__wrapped__``
    async def _seek(self: ThreadDelegateConsumer, partition: TP, offset: int) -> None:
        thread: Any = self._thread
        if thread.thread_loop.is_running():
            await thread.call_thread(thread.seek, partition, offset)
        else:  # no thread to race with (starting or stopped): Faust's own
            await original(self, partition, offset)

    setattr(_seek, _APPLIED_MARK, True)
    return _seek


def rotate_drained(records: dict[Any, Any], drained: Any) -> None:
    """Partitions drained in part go behind the others (``records`` keeps insertion order)."""
    for tp in drained:
        rest = records.pop(tp, None)
        if rest is not None:
            records[tp] = rest


def waiting_to_be_handed_on(consumer: Any) -> dict[TP, int]:
    """Partitions with records fetched and not yet handed to a stream (in aiokafka's buffer or
    in the batch Faust is handing on), and the first such offset, as far as it is known."""
    waiting: dict[TP, int] = {}
    for tp, records in list(getattr(consumer, CURRENT_BATCH, {}).items()):
        if records:
            waiting[TP(tp.topic, tp.partition)] = records[0].offset
    try:
        buffered = consumer._thread._consumer._fetcher._records
    except AttributeError:  # not started, or not the aiokafka driver
        return waiting
    # Read from the main thread: ``list`` copies the dict in one step under the GIL, and a
    # result the consumer thread empties meanwhile only loses its offset.
    for tp, result in list(buffered.items()):
        records = getattr(result, "_partition_records", None)
        if records is not None:
            offset = getattr(records, "next_fetch_offset", -1)
            waiting.setdefault(TP(tp.topic, tp.partition), offset)
    return waiting


def _fair_fetched_records(
    original: Callable[..., Awaitable[dict[Any, list[Any]]]],
) -> Callable[..., Awaitable[dict[Any, list[Any]]]]:
    @functools.wraps(original)  # aiokafka's own stays reachable as ``__wrapped__``
    async def fetched_records(
        self: Fetcher,
        partitions: Any,
        timeout: float = 0,  # noqa: ASYNC109 (aiokafka's own signature)
        max_records: int | None = None,
    ) -> dict[Any, list[Any]]:
        drained = await original(self, partitions, timeout, max_records)
        rotate_drained(self._records, drained)  # on the consumer thread, as every caller
        return drained

    setattr(fetched_records, _APPLIED_MARK, True)
    return fetched_records


def apply() -> None:
    current = ThreadDelegateConsumer._seek
    if not getattr(current, _APPLIED_MARK, False):
        fixed = _seek_on_consumer_thread(current)
        ThreadDelegateConsumer._seek = fixed  # type: ignore[method-assign,assignment]
    current = Fetcher.fetched_records
    if not getattr(current, _APPLIED_MARK, False):
        Fetcher.fetched_records = _fair_fetched_records(current)
