"""A batching sink (quixstreams' ``BatchingSink.write`` model): ``write(batch)`` returns one
result per record, and the runtime does the rest.

Per batch the runtime skips records replayed for the other sink, checks limits, parses, calls
``write``, and settles each record by its result: delivered, ignored, dead-lettered, or kept
for another attempt. A retriable failure is held while the other side is down for everyone;
a record that keeps failing while others succeed is dead-lettered after its retry budget, so
no record can block a partition. ``write`` raising for a whole batch is narrowed to the
records by writing them one at a time.

A sink whose topology entry names a ``salesforce_budget`` role slows down while the org's
daily API budget is tight (runtime/api_budget.py): ``PAUSE`` waits before writing, ``FILL``
holds batches to fill sObject Collections calls (runtime/fill.py), ``URGENT`` writes as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import faust
from pydantic import BaseModel

from stream import metrics
from stream.replay_headers import sink_skips
from stream.runtime import flow_metrics
from stream.runtime.api_budget import budget_for
from stream.runtime.consuming import ConsumingFlow
from stream.runtime.dispositions import Do, dispose
from stream.runtime.fill import Filler
from stream.runtime.outcomes import DELIVERED, Delivered, Failed, Ignored, Rejected, Result, Skipped
from stream.runtime.records import Incoming
from stream.runtime.spec import BudgetRole

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 30.0


@dataclass
class Item(Generic[M]):
    record: Incoming
    value: M
    attempts: int = 0
    first_failure: float | None = field(default=None, repr=False)
    # A probe found the system up after this record's budget was spent: one more failure
    # and it is the record's (one more try first, so an outage that just ended is no fault).
    system_up: bool = False


class BatchSink(ConsumingFlow[M]):
    kind = "sink"
    concurrency: ClassVar[int] = 8  # keys written at once by the default ``write``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_success = 0.0
        self._slots = asyncio.Semaphore(self.in_flight())
        self.budget_role = self.spec.salesforce_budget
        self.budget = budget_for(self.ctx)
        if self.budget_role is not None:
            self.budget.register(self.name, self.budget_role)
        self._filler: Filler | None = None

    # -- what a flow provides ------------------------------------------------------------
    async def write(self, batch: list[Item[M]]) -> list[Result]:
        """One result per item, in order. The default writes each key's records in order and
        different keys concurrently, one ``write_one`` per record."""
        by_key: dict[bytes | None, list[int]] = {}
        for index, item in enumerate(batch):
            by_key.setdefault(item.record.key, []).append(index)
        results: list[Result] = [DELIVERED] * len(batch)

        async def one_key(indexes: list[int]) -> None:
            held: BaseException | None = None
            for index in indexes:
                if held is not None:  # a later state waits for the earlier one it builds on
                    results[index] = Failed(held)
                    continue
                async with self._slots:
                    results[index] = await self._guarded_one(batch[index])
                failed = results[index]
                if isinstance(failed, Failed) and dispose(failed.error).do is Do.RETRY:
                    held = failed.error

        await asyncio.gather(*(one_key(indexes) for indexes in by_key.values()))
        return results

    async def write_one(self, item: Item[M]) -> None:
        """Write one record (for flows that use the default ``write``)."""
        raise NotImplementedError

    def in_flight(self) -> int:
        """Records the default ``write`` has in flight at once (a connector may set it)."""
        return self.concurrency

    # -- the runtime ---------------------------------------------------------------------
    async def consume(self, stream: faust.StreamT[Any], events: list[Any]) -> None:
        if self.budget_role is not BudgetRole.FILL:
            await super().consume(stream, events)
            return
        if self._filler is None or self._filler.stream is not stream:
            self._filler = Filler(
                stream, self.handle, self.budget, self.batch_size, self.ctx.app.crash
            )
        await self._filler.batch(events)

    async def _run(self, stream: faust.StreamT[Any]) -> None:
        try:
            await super()._run(stream)
        finally:
            if self._filler is not None:  # its timer must not outlive the agent
                self._filler.close()

    async def _guarded_one(self, item: Item[M]) -> Result:
        try:
            await self.write_one(item)
        except Exception as exc:
            return Failed(exc)
        return DELIVERED

    async def handle(self, records: list[Incoming]) -> None:
        started = time.perf_counter()
        flow_metrics.received(self.name, len(records))
        metrics.SINK_BATCH_SIZE.labels(self.name).observe(len(records))
        items: list[Item[M]] = []
        for record in records:
            try:
                if self.spec.replay_sink and sink_skips(
                    self.spec.replay_sink, record.headers, self.ctx.replay_sinks
                ):
                    raise Ignored("replayed_for_other_sink")
                items.append(Item(record, self.decode(record)))
            except Exception as exc:
                await self.settle(record, exc)
        if items and self.budget_role is BudgetRole.PAUSE:
            await self.budget.wait_for_room()  # not urgent: the day's last calls are not ours
        await self.deliver(items)
        flow_metrics.took(self.name, time.perf_counter() - started)

    async def deliver(self, items: list[Item[M]]) -> None:
        pause = FIRST_PAUSE_SECONDS
        while items:
            round_started = time.monotonic()
            results = await self._write_isolated(items)
            again: list[Item[M]] = []
            for item, result in zip(items, results, strict=True):
                if await self._settled(item, result, round_started):
                    continue
                again.append(item)
            items = again
            if items:
                log.warning(
                    "%s: holding %d record(s), trying again in %.1fs", self.name, len(items), pause
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_SECONDS)

    async def _write_isolated(self, items: list[Item[M]]) -> list[Result]:
        """``write``'s results; a raise for the whole batch is narrowed to its records."""
        try:
            results = await self.write(items)
            if len(results) != len(items):
                raise RuntimeError(f"write gave {len(results)} results for {len(items)} records")
            return results
        except Exception as exc:
            if len(items) == 1 or dispose(exc).do in (Do.RETRY, Do.STOP):
                return [Failed(exc)] * len(items)  # an outage or settings: the same for all
        return [(await self._write_isolated([item]))[0] for item in items]

    async def _settled(self, item: Item[M], result: Result, round_started: float) -> bool:
        """Act on one result; False when the record is kept for another attempt."""
        if isinstance(result, Delivered):
            self._last_success = round_started
            flow_metrics.delivered(self.name)
            return True
        if isinstance(result, Skipped):
            flow_metrics.ignored(self.name, result.reason)
            return True
        if dispose(result.error).do is not Do.RETRY:
            await self.settle(item.record, result.error)
            return True
        now = time.monotonic()
        item.attempts += 1
        if item.first_failure is None:
            item.first_failure = round_started
        flow_metrics.retried(self.name)
        if self._budget_spent(item, now) and await self._system_answered(item, result.error):
            # The system answered while this record kept failing: the fault is the record's.
            await self.settle(
                item.record,
                Rejected(
                    "retries_exhausted",
                    f"{item.attempts} attempts over {now - item.first_failure:.0f}s while the "
                    f"system answered others; last error: {result.error}",
                ),
            )
            return True
        return False

    def _budget_spent(self, item: Item[M], now: float) -> bool:
        assert item.first_failure is not None
        return (
            item.attempts >= self.limits.retry_budget_attempts
            and now - item.first_failure >= self.limits.retry_budget_seconds
        )

    async def _system_answered(self, item: Item[M], error: BaseException) -> bool:
        """True once the system behind ``error`` is known up for everyone else: a record of
        this batch got through since this one first failed, or a probe succeeded before this
        record's latest failure. An outage fails both and the record is held (a held batch
        reads nothing new, so the probe is what can tell)."""
        assert item.first_failure is not None
        if self._last_success >= item.first_failure or item.system_up:
            return True
        system = getattr(error, "system", None)
        if not isinstance(system, str):
            return False  # unreachable (a transport error): an outage until proven otherwise
        try:
            await self.ctx.connectors.probe(system)
        except Exception as exc:  # any failure of the probe means "not up"
            log.info("%s: %s does not answer a probe (%r): holding", self.name, system, exc)
            return False
        item.system_up = True
        return False
