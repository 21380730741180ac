"""Fuller batches for a collection writer while the Salesforce API budget is tight.

Faust's ``take_events`` hands a sink what arrived within the batch window (half a second by
default), so a trickle of payments costs two sObject Collections calls a second. While the
budget is tight (runtime/api_budget.py) a ``BudgetRole.FILL`` sink keeps its batches instead:
each record's message gets one more reference (``Message.incref``), so ``take_events``' own ack
leaves it uncommitted, and the records are written once 200 are together or the oldest has
waited ``PAYSTREAM_SALESFORCE_API_BUDGET_LINGER_SECONDS``; only then are they acked. Held records
count as in progress for the stall watchdog and liveness, a stop leaves them uncommitted (read
again), and per-key order holds because held records are always written before newer ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stream.faust_batch_acks import hold_acks
from stream.runtime.api_budget import ApiBudget
from stream.runtime.base import StopWorker
from stream.runtime.records import Incoming

log = logging.getLogger(__name__)


@dataclass
class Held:
    """The records waiting, oldest first, with when each arrived (no Faust: tested alone)."""

    entries: list[tuple[Any, Incoming, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, events: Sequence[Any], records: Sequence[Incoming], now: float) -> None:
        self.entries.extend((e, r, now) for e, r in zip(events, records, strict=True))

    def due(self, size: int, linger: float, now: float, tight: bool) -> list[list[Any]]:
        """Take the chunks to write now: every full ``size``, then the rest when the budget
        has room again or the oldest has waited ``linger``."""
        chunks = []
        while len(self.entries) >= size:
            chunks.append(self.entries[:size])
            self.entries = self.entries[size:]
        if self.entries and (not tight or now - self.entries[0][2] >= linger):
            chunks.append(self.entries)
            self.entries = []
        return chunks

    def next_due(self, linger: float) -> float | None:
        return self.entries[0][2] + linger if self.entries else None


class Filler:
    """One sink's held records on one Faust stream, and the timer that writes them when no
    new batch comes to do it."""

    def __init__(
        self,
        stream: Any,
        handle: Callable[[list[Incoming]], Awaitable[None]],
        budget: ApiBudget,
        size: int,
        crash: Callable[[BaseException], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.handle = handle
        self.budget = budget
        self.size = size
        self.crash = crash
        self.clock = clock
        self.held = Held()
        self._lock = asyncio.Lock()  # one write at a time: held records go before newer ones
        self._timer: asyncio.Task[None] | None = None

    async def batch(self, events: Sequence[Any]) -> None:
        """One batch from ``take_events``: written now, or held while the budget is tight."""
        records = [Incoming.of(event) for event in events]
        async with self._lock:
            tight = await self.budget.look()
            if not tight and not self.held:
                await self.handle(records)
                return
            for event in events:
                event.message.incref()  # take_events' ack no longer commits it: ours will
            self.held.add(events, records, self.clock())
            await self._write_due(tight)
        self._arm()

    async def _write_due(self, tight: bool) -> None:
        for chunk in self.held.due(self.size, self.budget.linger_seconds, self.clock(), tight):
            await self.handle([record for _, record, _ in chunk])
            for event, _, _ in chunk:
                await self.stream.ack(event)

    def _arm(self) -> None:
        if self.held and (self._timer is None or self._timer.done()):
            self._timer = asyncio.get_running_loop().create_task(self._later())

    async def _later(self) -> None:
        try:
            while self.held:
                due = self.held.next_due(self.budget.linger_seconds) or self.clock()
                # Wake at the linger's end, or sooner to see the budget has room again.
                await asyncio.sleep(min(max(due - self.clock(), 0.0), 1.0))
                async with self._lock:
                    await self._write_due(await self.budget.look())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            hold_acks(self.stream)  # what was held stays uncommitted and is read again
            if not isinstance(exc, StopWorker):  # StopWorker already crashed the app
                log.error("held records could not be written: %r", exc)
                await self.crash(exc)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
