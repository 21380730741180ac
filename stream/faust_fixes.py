"""Fixes for faust-streaming 0.15.3 bugs that lose events; applied once by ``create_app``.

1. Recovery resumes the stream partitions *before* seeking them to their committed offsets
   (faust-streaming issue #596), in both of its exits (``on_recovery_completed`` after reading
   changelogs, ``_resume_streams`` when there is nothing to read): records fetched in between
   are dropped when flow control resumes, yet the fetch position has already moved past them,
   so a restarted worker silently skips events. Holding the resume until after the seek is not
   enough: the fetcher runs during changelog recovery, and the ``flow_control.resume()`` that
   follows the seek empties every stream's queue (``FlowControlEvent`` clears the queues it
   manages), dropping what was fetched in between: the first record a successor fetched, the
   one at the committed offset, was lost (traced 2026-11-29). We keep Faust's own methods and
   hold the stream partitions' resume until they have returned.

2. ``Consumer.getmany`` drops fetched records without moving the fetch position back: those of
   a partition paused while the batch is handed on (a rebalance starting, recovery pausing
   what it was just given), and the rest of a batch it stops handing on. The next fetch starts
   after them; the consumer then sees an offset jump, which Faust books as a gap it may commit
   past (a skipped event), or the partition is left with nothing to read (a stall). We wrap
   ``getmany``: whatever it fetched but did not hand on is sought back to, so it is fetched
   again. When flow control stopped or the generation changed, a rebalance is under way and
   its recovery seeks every partition to its committed offset, so we leave those to it.

3. Not Faust's: noida-db 0.2.3 can answer a JoinGroup naming the receiver the leader while
   leaving it out of the member list (docs/measured-quirks.md). The leader then assigns only
   the members listed, and its own SyncGroup answer is an empty assignment, ``b""``. aiokafka
   0.14 decodes it unchecked: ``struct.error`` ("unpack requires a buffer of 2 bytes") is no
   KafkaError, so it ends aiokafka's coordination task, and Faust (which reads the fetcher, not
   ``getmany``) never sees it: no heartbeat, no rejoin, a worker that looks healthy and does
   nothing. We check the assignment before aiokafka does; one it cannot decode fails this
   join attempt and asks for another, which is what a SyncGroup error does.

4., 5. Events acked before they were processed: stream/faust_batch_acks.py.

6. A commit past a record handed to a stream and never acknowledged: stream/faust_commit_guard.py
   (it learns what was handed on from fix 2's ``getmany``).

7., 8. Seeks made from the wrong thread (aiokafka's fetcher died with a ``KeyError``) and one
   partition's backlog starving every other partition: stream/faust_consumer_thread.py.

9. A failed commit recorded as committed, and the commit guard's memory of a revoked
   partition: stream/faust_rebalance.py.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
from aiokafka.coordinator.protocol import ConsumerProtocol
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP

from stream import faust_batch_acks, faust_commit_guard, faust_consumer_thread, faust_rebalance

log = logging.getLogger(__name__)
_APPLIED_MARK = faust_commit_guard.APPLIED_MARK
_FETCHED = faust_consumer_thread.CURRENT_BATCH


def _resume_after_recovery(
    original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    async def on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
        consumer: Any = self.app.consumer
        resume = consumer.resume_partitions
        held: list[Any] = []
        consumer.resume_partitions = held.append
        try:
            await original(self, generation_id)
        finally:
            del consumer.resume_partitions  # back to the class method
            # After the seek *and* after ``flow_control.resume()``, which empties every
            # stream's queue: a record fetched before it would be dropped there, past.
            # A newer rebalance pauses everything and resumes it in its own recovery.
            if self.app.consumer_generation_id == generation_id:
                while held:
                    resume(held.pop(0))

    setattr(on_recovery_completed, _APPLIED_MARK, True)
    return on_recovery_completed


def first_not_handed_on(
    fetched: Mapping[TP, list[Any]], handed: Mapping[TP, set[int]]
) -> dict[TP, int]:
    """Per partition, the first fetched offset that was not handed on (if any was not)."""
    firsts = {}
    for tp, records in fetched.items():
        given = handed.get(tp, set())
        missed = [record.offset for record in records if record.offset not in given]
        if missed:
            firsts[tp] = min(missed)
    return firsts


def _remember_fetched(
    original: Callable[..., Awaitable[tuple[Any, Any]]],
) -> Callable[..., Awaitable[tuple[Any, Any]]]:
    # Faust's own signatures: it passes ``timeout`` by name.
    async def _wait_next_records(self: Consumer, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109
        records, active = await original(self, timeout)
        setattr(self, _FETCHED, records or {})
        return records, active

    setattr(_wait_next_records, _APPLIED_MARK, True)
    return _wait_next_records


def _refetch_what_was_dropped(
    original: Callable[..., AsyncIterator[tuple[TP, Any]]],
) -> Callable[..., AsyncIterator[tuple[TP, Any]]]:
    async def getmany(self: Consumer, timeout: float) -> AsyncIterator[tuple[TP, Any]]:  # noqa: ASYNC109
        consumer: Any = self
        generation = consumer.app.consumer_generation_id
        handed: dict[TP, set[int]] = {}
        remember = faust_commit_guard.remembering(self)
        setattr(self, _FETCHED, {})
        try:
            async for tp, message in original(self, timeout):
                handed.setdefault(tp, set()).add(message.offset)
                remember(tp, message.offset)  # before any stream can see it
                yield tp, message
        finally:
            fetched = getattr(self, _FETCHED, {})
            setattr(self, _FETCHED, {})
            same_generation = consumer.app.consumer_generation_id == generation
            if fetched and consumer.flow_active and same_generation and not self.should_stop:
                assigned = self.assignment()
                for tp, offset in first_not_handed_on(fetched, handed).items():
                    if tp in assigned:
                        log.debug("fetched but not handed on: %s from %d again", tp, offset)
                        await self.seek(tp, offset)

    setattr(getmany, _APPLIED_MARK, True)
    return getmany


def decodable_assignment(assignment: bytes) -> bool:
    """Whether aiokafka can decode a SyncGroup's member assignment."""
    try:
        ConsumerProtocol.ASSIGNMENT.decode(assignment)
    except (struct.error, ValueError, UnicodeDecodeError):
        return False
    return True


def _rejoin_on_undecodable_assignment(
    original: Callable[..., Awaitable[bytes | None]],
) -> Callable[..., Awaitable[bytes | None]]:
    async def _send_sync_group_request(self: Any, request: Any) -> bytes | None:
        assignment = await original(self, request)
        if assignment is None or decodable_assignment(assignment):
            return assignment
        coordinator = self._coordinator
        log.warning(
            "group %s generation %s gave member %s an assignment it cannot decode (%r); "
            "joining again",
            self.group_id,
            coordinator.generation,
            coordinator.member_id,
            assignment[:16],
        )
        # As aiokafka does on a SyncGroup error: None fails this attempt, the loop rejoins.
        coordinator.request_rejoin()
        return None

    setattr(_send_sync_group_request, _APPLIED_MARK, True)
    return _send_sync_group_request


_CONSUMER_FIXES: dict[str, Callable[[Any], Any]] = {
    "_wait_next_records": _remember_fetched,
    "getmany": _refetch_what_was_dropped,
    "_new_offset": faust_commit_guard.guard_new_offset,
    "_commit_offsets": faust_commit_guard.note_committing,
}


def apply() -> None:
    faust_batch_acks.apply()
    faust_consumer_thread.apply()
    for name in ("on_recovery_completed", "_resume_streams"):
        current = getattr(Recovery, name)
        if not getattr(current, _APPLIED_MARK, False):
            setattr(Recovery, name, _resume_after_recovery(current))
    for name, fix in _CONSUMER_FIXES.items():
        current = getattr(Consumer, name)
        if not getattr(current, _APPLIED_MARK, False):
            setattr(Consumer, name, fix(current))
    faust_rebalance.apply()  # after fix 6: it wraps ``_commit_offsets`` again
    current = CoordinatorGroupRebalance._send_sync_group_request
    if not getattr(current, _APPLIED_MARK, False):
        CoordinatorGroupRebalance._send_sync_group_request = _rejoin_on_undecodable_assignment(
            current
        )
