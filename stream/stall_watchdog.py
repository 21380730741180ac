"""Unsticks a partition that Faust stopped reading.

Measured with faust-streaming 0.15.3: around a restart or rebalance a fetched record can be
dropped while Faust's fetch position has already moved past it, and nothing seeks back until
the next rebalance, so the partition stalls with its committed offset just below the record.
A partition counts as stalled when, twice in a row, the group's committed offset is below the
partition's end and has not moved, and this worker holds no unacknowledged message *of that
partition* (so nothing is in progress there whose commit is pending) and no fetched record of
it waits to be taken by a stream (a backlog's partitions take turns:
stream/faust_consumer_thread.py; a held sink's channel queues what comes behind its batch).
Then it is sought back to the committed offset: Faust reads the record again. Replays are
harmless: every sink is idempotent. The check is per partition: a sink holding a record of one
partition through an outage must not keep another partition stuck.

It belongs to every app ``stream.app.create_app`` makes (the pipeline's and the table-recovery
proof's alike), next to the Faust fixes in stream/faust_fixes.py. Each look is also reported to
the worker's liveness (stream/health.py): a partition that reading again does not move either
ends the worker after the liveness timeout.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.types import TP

from stream import faust_commit_guard, faust_consumer_thread, metrics
from stream.group_offsets import GroupOffsets
from stream.health import Liveness

log = logging.getLogger(__name__)


class StallWatchdog:
    def __init__(
        self, app: faust.App, offsets: GroupOffsets, liveness: Liveness | None = None
    ) -> None:
        self.app = app
        self.offsets = offsets
        self.liveness = liveness
        self._suspects: dict[TopicPartition, int] = {}  # partition -> committed offset seen
        self._reported_busy: set[tuple[TopicPartition, int]] = set()

    def in_progress(self) -> dict[TopicPartition, list[int]]:
        """Offsets of the messages this worker holds unacknowledged, per partition."""
        consumer: Any = self.app.consumer
        held: dict[TopicPartition, list[int]] = defaultdict(list)
        for message in list(getattr(consumer, "_unacked_messages", ())):
            tp = message.tp
            held[TopicPartition(tp.topic, tp.partition)].append(message.offset)
        return held

    def waiting(self) -> dict[TopicPartition, int]:
        """Partitions with records fetched and not yet taken by a stream, and the first such
        offset: in a backlog they wait their turn (fix 8 in stream/faust_consumer_thread.py),
        and a seek would only throw those records away and send the partition to the back."""
        waiting = faust_consumer_thread.waiting_to_be_handed_on(self.app.consumer)
        first = {TopicPartition(tp.topic, tp.partition): o for tp, o in waiting.items()}
        for tp, offset in self.queued().items():
            first[tp] = min(offset, first.get(tp, offset))
        return first

    def queued(self) -> dict[TopicPartition, int]:
        """Records handed on to an agent's channel and not yet taken by its stream, and the
        first offset per partition. Faust tracks a message as unacknowledged only when the
        stream takes it, so while a sink holds a batch (an outage, a budget pause) the up to
        ``stream_buffer_maxsize`` records queued behind it are neither in progress nor acked:
        they looked lost, and the watchdog read them again (measured-quirks.md)."""
        first: dict[TopicPartition, int] = {}
        for channel in list(getattr(self.app, "topics", ())):
            queue = getattr(channel, "_queue", None)  # not ``.queue``: that would make one
            for event in list(getattr(queue, "_queue", ())):
                message = getattr(event, "message", None)
                if message is None:
                    continue
                tp = TopicPartition(message.tp.topic, message.tp.partition)
                first[tp] = min(message.offset, first.get(tp, message.offset))
        return first

    def faust_committed(self) -> dict[TopicPartition, int]:
        """The offsets Faust believes committed (it updates them as each commit ends)."""
        offsets = getattr(self.app.consumer, "_committed_offset", None) or {}
        return {TopicPartition(tp.topic, tp.partition): o for tp, o in list(offsets.items())}

    def committing(self) -> dict[TopicPartition, int]:
        """Partitions in the commit under way, and their new offsets: Faust flushes the
        producer before it commits, which took 17 s under load (stream/faust_commit_guard.py)."""
        offsets = faust_commit_guard.committing(self.app.consumer)
        return {TopicPartition(tp.topic, tp.partition): o for tp, o in offsets.items()}

    def assigned(self) -> list[TopicPartition]:
        """The stream partitions this worker reads (table changelogs are Faust's to recover)."""
        changelogs = set(self.app.tables.changelog_topics)
        return sorted(
            TopicPartition(tp.topic, tp.partition)
            for tp in self.app.consumer.assignment()
            if tp.topic not in changelogs
        )

    async def check(self) -> list[TopicPartition]:
        """Seek back the partitions stalled since the previous check; returns them."""
        partitions = self.assigned()
        if self.liveness is not None:
            self.liveness.assigned(partitions)
        if not partitions:
            self._suspects.clear()
            return []
        # Noted before the ask (an admin OffsetFetch, slow under load): a commit that starts
        # and ends while it is under way would be invisible afterwards, its answer stale.
        committed_before = self.faust_committed()
        committing = self.committing()
        positions = await self.offsets.positions(partitions)
        moved = {tp for tp, o in self.faust_committed().items() if committed_before.get(tp) != o}
        held = self.in_progress()
        waiting = self.waiting()
        for tp, offset in self.committing().items():
            committing[tp] = max(offset, committing.get(tp, offset))
        stalled = []
        suspects: dict[TopicPartition, int] = {}
        # Under exactly_once the commit marker of the last transaction takes an offset that
        # is never delivered: a partition read to its end is committed one below it.
        marker = 1 if self.app.in_transaction else 0
        for tp, (committed, end) in positions.items():
            if committed >= end - marker:
                continue
            suspects[tp] = committed
            if self._suspects.get(tp) != committed:
                continue
            if tp in held:
                self._report_busy(tp, committed, end, sorted(held[tp]))
                continue
            if tp in waiting:
                self._report_waiting(tp, committed, end, waiting[tp])
                continue
            if committing.get(tp, committed) > committed:  # moving, once the commit is done
                continue
            if tp in moved:  # committed during the ask: the broker's answer is already old
                continue
            stalled.append(tp)
        self._suspects = suspects
        if self.liveness is not None:  # lag with nothing in progress: is it moving?
            busy = held.keys() | waiting.keys() | committing.keys() | moved
            lagging = {tp: c for tp, c in suspects.items() if tp not in busy}
            self.liveness.partitions(lagging, partitions)
        self._reported_busy = {(tp, c) for tp, c in self._reported_busy if suspects.get(tp) == c}
        for tp in stalled:
            committed = positions[tp][0]
            log.warning(
                "partition %s-%d stalled at offset %d with nothing in progress; reading it "
                "again (%s)",
                tp.topic,
                tp.partition,
                committed,
                self.faust_view(tp),
            )
            metrics.STALLS_RECOVERED.labels(tp.topic).inc()
            await self.app.consumer.seek(TP(tp.topic, tp.partition), committed)
        return stalled

    def faust_view(self, tp: TopicPartition) -> str:
        """What Faust's consumer believes about the partition, for the log: how it stalled."""
        consumer: Any = self.app.consumer
        ftp = TP(tp.topic, tp.partition)
        try:
            acked = sorted(consumer._acked.get(ftp, ()))
            return (
                f"paused={ftp in consumer._paused_partitions} "
                f"active={ftp in (consumer._active_partitions or ())} "
                f"read_offset={consumer._read_offset.get(ftp)} "
                f"faust_committed={consumer._committed_offset.get(ftp)} "
                f"acked={acked[:5]}{'...' if len(acked) > 5 else ''}"
            )
        except (AttributeError, TypeError):  # another Faust version: the stall still counts
            return "consumer state unavailable"

    def _first_report(self, tp: TopicPartition, committed: int) -> bool:
        """Whether this partition's wait at this offset is not reported yet (and now is)."""
        if (tp, committed) in self._reported_busy:
            return False
        self._reported_busy.add((tp, committed))
        return True

    def _report_waiting(self, tp: TopicPartition, committed: int, end: int, first: int) -> None:
        # A turn that takes this long means a slow consumer (CPU, a sink holding its queue
        # full), not a lost record: said once per offset, at info.
        if not self._first_report(tp, committed):
            return
        log.info(
            "partition %s-%d has not moved from offset %d (end %d); records from offset %d "
            "are fetched and wait their turn to be taken by a stream",
            tp.topic,
            tp.partition,
            committed,
            end,
            first,
        )

    def _report_busy(self, tp: TopicPartition, committed: int, end: int, held: list[int]) -> None:
        # Said once per stuck offset: an agent may legitimately hold a record through an
        # outage, but an operator wants to know which record it is.
        if not self._first_report(tp, committed):
            return
        log.warning(
            "partition %s-%d has not moved from offset %d (end %d); offsets still in "
            "progress here: %s",
            tp.topic,
            tp.partition,
            committed,
            end,
            held[:10],
        )


def install(
    app: faust.App,
    offsets: GroupOffsets,
    interval_seconds: float,
    liveness: Liveness | None = None,
) -> StallWatchdog:
    watchdog = StallWatchdog(app, offsets, liveness)
    # Between two looks Faust must have had time to commit what it acknowledged, or a partition
    # that is merely between commits would look stuck and be read again.
    interval = max(interval_seconds, 2 * float(app.conf.broker_commit_interval))

    @app.timer(interval, name="stall_watchdog")
    async def stall_watchdog() -> None:
        try:
            await watchdog.check()
        except Exception as exc:  # a broker hiccup: the next tick looks again
            log.warning("stall watchdog skipped a check: %r", exc)

    return watchdog
