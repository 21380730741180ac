"""Counts what lands on the dead-letter topic, whichever worker parked it."""

from __future__ import annotations

from schemas.deadletter import DeadLetter
from stream import metrics
from stream.replay_headers import header
from stream.runtime.outcomes import DELIVERED, Result
from stream.runtime.sink import BatchSink, Item


class DeadLetterMonitor(BatchSink[DeadLetter]):
    model = DeadLetter

    async def write(self, batch: list[Item[DeadLetter]]) -> list[Result]:
        topic = self.ctx.topic("deadletter").get_topic_name()
        for item in batch:
            reason = header(item.record.headers, "paystream-reason") or item.value.reason
            metrics.DEAD_LETTERS.labels(topic, reason).inc()
        return [DELIVERED] * len(batch)
