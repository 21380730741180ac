"""What every flow that reads a topic shares: its Faust agent, batches, the door check and
parse, and the rule that a batch stopped midway is never acked."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import faust
from pydantic import BaseModel

from stream.faust_batch_acks import hold_acks
from stream.runtime import limits
from stream.runtime.base import Flow, StopWorker
from stream.runtime.records import Incoming

M = TypeVar("M", bound=BaseModel)


class ConsumingFlow(Flow, Generic[M]):
    model: ClassVar[type[BaseModel]]  # what each record's value must parse as

    @property
    def batch_size(self) -> int:
        return self.ctx.worker.sink_batch_size

    @property
    def batch_seconds(self) -> float:
        return self.ctx.worker.sink_batch_seconds

    @abstractmethod
    async def handle(self, records: list[Incoming]) -> None:
        """Settle every record of one batch; raise only when the worker must stop."""

    def attach(self) -> None:
        topic = self.ctx.topic(self.spec.reads[0])
        self.ctx.app.agent(topic, name=self.name)(self.as_flow(self._run))

    async def _run(self, stream: faust.StreamT[Any]) -> None:
        # take_events is faust-streaming's, missing from its StreamT stub.
        async for batch in stream.take_events(self.batch_size, self.batch_seconds):  # type: ignore[attr-defined]
            try:
                await self.consume(stream, batch)
            except BaseException as exc:
                # Stopped or cancelled mid-batch: its records stay uncommitted, read again.
                hold_acks(stream)
                if isinstance(exc, StopWorker):
                    return
                raise

    async def consume(self, stream: faust.StreamT[Any], events: list[Any]) -> None:
        """One batch of Faust events; a sink may hold some for later (runtime/fill.py)."""
        await self.handle([Incoming.of(event) for event in events])

    def decode(self, record: Incoming) -> M:
        """The record's value, once it passed the door's limits and parsed as ``model``."""
        value = limits.check(record.key, record.value, self.limits)
        parsed: M = self.model.model_validate_json(value)  # type: ignore[assignment]
        return parsed
