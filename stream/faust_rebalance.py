"""Fix 9 for faust-streaming 0.15.3: per-partition commit state that outlives a commit or a
rebalance it should not (issue 15's two-worker drains, docs/measured-quirks.md).

a. ``Consumer._commit_offsets`` records the offsets it tried as committed
   (``self._committed_offset.update(...)``) whether the commit succeeded or not. A commit that
   aiokafka answers ``CommitFailedError`` (the broker said UnknownMemberId, IllegalGeneration
   or RebalanceInProgress: the group is rebalancing) returns False, and Faust believes the
   group's offset moved anyway. When that commit was under way across the rebalance (Faust
   flushes the producer first, 17 s under load) the belief lands after recovery has sought the
   partition to the broker's committed offset: the records read again are below what Faust
   believes committed, ``Consumer.ack`` ignores them, nothing is ever committed there again,
   and a seek by the stall watchdog cannot help (it moves the read position, not the belief).
   We note Faust's committed offsets when its ``_commit`` reports a failure and put them back
   once ``_commit_offsets`` has returned: nothing is awaited in between, so that is exactly the
   state before Faust's update. The acknowledged offsets that commit took are gone from Faust's
   lists, so the partition then waits at a hole until the rebalance aiokafka asked for seeks it
   to the broker's offset, or the watchdog reads it again: a wait, never a skip.

b. The commit guard (fix 6, stream/faust_commit_guard.py) remembers the offsets handed to
   streams per partition; Faust forgets its own per-partition state of a revoked partition
   (``on_partitions_revoked``), the guard did not. Records handed on before a rebalance and
   dropped with the stream queues during it (they are read again after recovery's seek) then
   looked "never acknowledged" to the guard: a warning per rebalance, no loss. We forget them
   with Faust's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.types import TP

from stream import faust_commit_guard

log = logging.getLogger(__name__)
# Its own mark: ``functools.wraps`` copies the wrapped function's, and fix 6 wraps
# ``_commit_offsets`` too (stream/faust_fixes.py applies this after it).
_APPLIED_MARK = "_paystream_fix9"
_BEFORE_FAILED_COMMIT = "_paystream_before_failed_commit"


def _note_failed_commit(
    original: Callable[..., Awaitable[bool]],
) -> Callable[..., Awaitable[bool]]:
    @functools.wraps(original)  # Faust's own stays reachable as ``__wrapped__``
    async def _commit(self: Any, offsets: Mapping[TP, int]) -> bool:
        did_commit: bool = await original(self, offsets)
        if not did_commit:
            # Faust's _commit_offsets records ``offsets`` as committed next, without awaiting.
            committed = self._committed_offset
            setattr(self, _BEFORE_FAILED_COMMIT, {tp: committed.get(tp) for tp in offsets})
        return did_commit

    setattr(_commit, _APPLIED_MARK, True)
    return _commit


def _keep_committed_on_failure(
    original: Callable[..., Awaitable[bool]],
) -> Callable[..., Awaitable[bool]]:
    @functools.wraps(original)
    async def _commit_offsets(self: Any, offsets: Mapping[TP, int], *args: Any, **kw: Any) -> bool:
        setattr(self, _BEFORE_FAILED_COMMIT, None)
        try:
            return await original(self, offsets, *args, **kw)
        finally:
            before: dict[TP, int | None] | None = getattr(self, _BEFORE_FAILED_COMMIT, None)
            setattr(self, _BEFORE_FAILED_COMMIT, None)
            if before:
                log.info("commit failed; committed offsets stay %r", before)
                committed = self._committed_offset
                for tp, offset in before.items():
                    if offset is None:
                        committed.pop(tp, None)
                    else:
                        committed[tp] = offset

    setattr(_commit_offsets, _APPLIED_MARK, True)
    return _commit_offsets


def forget_partitions(consumer: Any, revoked: Iterable[TP]) -> None:
    """The commit guard's memory of partitions this worker no longer reads."""
    handed = faust_commit_guard.handed_offsets(consumer)
    for tp in revoked:
        handed.pop(tp, None)


def _forget_revoked(
    original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    @functools.wraps(original)
    async def on_partitions_revoked(self: Any, revoked: set[TP]) -> None:
        forget_partitions(self, revoked)  # as Faust forgets its own, first thing
        await original(self, revoked)

    setattr(on_partitions_revoked, _APPLIED_MARK, True)
    return on_partitions_revoked


def apply() -> None:
    """Applied by stream/faust_fixes.py, after the commit guard (fix 6)."""
    fixes: list[tuple[type, str, Callable[[Any], Any]]] = [
        (ThreadDelegateConsumer, "_commit", _note_failed_commit),
        (Consumer, "_commit_offsets", _keep_committed_on_failure),
        (Consumer, "on_partitions_revoked", _forget_revoked),
    ]
    for cls, name, fix in fixes:
        current = cls.__dict__[name]
        if not getattr(current, _APPLIED_MARK, False):
            setattr(cls, name, fix(current))
