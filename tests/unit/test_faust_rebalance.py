"""Fix 9: a failed commit is not recorded as committed; the commit guard forgets a revoked
partition with Faust; and what the stall watchdog counts as a group offset about to move."""

from __future__ import annotations

import inspect
import types
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.types import TP
from intervaltree import IntervalTree

from stream import faust_commit_guard, faust_fixes, faust_rebalance

RAW = TP("raw", 1)
faust_fixes.apply()
FAUST_COMMIT_OFFSETS = inspect.unwrap(Consumer._commit_offsets)
FAUST_COMMIT = inspect.unwrap(ThreadDelegateConsumer._commit)


def consumer(committed: int, acked: list[int], broker_accepts: bool, faust_alone: bool) -> Any:
    async def flush() -> None:
        return None

    async def commit_on_thread(offsets: Any) -> bool:
        return broker_accepts  # False: aiokafka's CommitFailedError ("already rebalanced")

    noop = lambda *args, **kwargs: None  # noqa: E731
    fake = SimpleNamespace(
        _acked=defaultdict(list, {RAW: list(acked)}),
        _acked_index=defaultdict(set, {RAW: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {RAW: committed}),
        _gap=defaultdict(IntervalTree),
        _thread=SimpleNamespace(commit=commit_on_thread),
        log=SimpleNamespace(dev=noop, info=noop, warning=noop),
        in_transaction=False,
        assignment=lambda: {RAW},
        app=SimpleNamespace(
            producer=SimpleNamespace(flush=flush),
            tables=SimpleNamespace(on_commit=noop),
            monitor=SimpleNamespace(on_tp_commit=noop),
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        ),
    )
    commit = FAUST_COMMIT if faust_alone else ThreadDelegateConsumer._commit
    fake._commit = types.MethodType(commit, fake)
    return fake


async def test_faust_alone_records_a_failed_commit_as_committed() -> None:
    # Issue 15: the survivor's commit of raw-1 up to 4998 fails (the group rebalances).
    fake = consumer(4838, [], broker_accepts=False, faust_alone=True)
    assert await FAUST_COMMIT_OFFSETS(fake, {RAW: 4998}) is False
    assert fake._committed_offset[RAW] == 4998  # what the fix is for: the broker still has 4838


async def test_a_failed_commit_is_not_recorded_as_committed() -> None:
    fake = consumer(4838, [], broker_accepts=False, faust_alone=False)
    assert await Consumer._commit_offsets(fake, {RAW: 4998}) is False
    assert fake._committed_offset[RAW] == 4838  # read again from there, its acks count


async def test_a_failed_first_commit_leaves_the_partition_uncommitted() -> None:
    fake = consumer(0, [], broker_accepts=False, faust_alone=False)
    del fake._committed_offset[RAW]
    assert await Consumer._commit_offsets(fake, {RAW: 12}) is False
    assert RAW not in fake._committed_offset


async def test_a_successful_commit_is_recorded() -> None:
    fake = consumer(4838, [], broker_accepts=True, faust_alone=False)
    assert await Consumer._commit_offsets(fake, {RAW: 4998}) is True
    assert fake._committed_offset[RAW] == 4998
    assert faust_commit_guard.committing(fake) == {}  # done


def test_an_acknowledged_record_at_the_committed_offset_counts_as_moving() -> None:
    # Issue 15: deadletter-1 at 3, record 3 acknowledged, the next commit not come yet.
    fake = consumer(3, [3], broker_accepts=True, faust_alone=False)
    assert faust_commit_guard.committing(fake) == {RAW: 4}
    lost = consumer(3, [4, 5], broker_accepts=True, faust_alone=False)  # 3 not acknowledged
    assert faust_commit_guard.committing(lost) == {}


async def test_a_revoked_partition_is_forgotten_by_the_commit_guard() -> None:
    # Handed on before the rebalance, dropped with the stream queues during it.
    fake = consumer(4107, [4108, 4109], broker_accepts=True, faust_alone=False)
    faust_commit_guard.remembering(fake)(RAW, 4107)
    revoked: list[set[TP]] = []

    async def faust_revoke(self: Any, partitions: set[TP]) -> None:
        revoked.append(partitions)

    await faust_rebalance._forget_revoked(faust_revoke)(fake, {RAW})
    assert revoked == [{RAW}]
    assert RAW not in faust_commit_guard.handed_offsets(fake)
    assert getattr(Consumer.on_partitions_revoked, "_paystream_fix9", False)


def test_fixes_are_applied_once_and_fix_6_stays() -> None:
    faust_fixes.apply()
    commit_offsets: Any = Consumer._commit_offsets
    layers = 0
    while hasattr(commit_offsets, "__wrapped__"):
        layers += 1
        commit_offsets = commit_offsets.__wrapped__
    assert layers == 2  # fix 9 around fix 6 around Faust's own
