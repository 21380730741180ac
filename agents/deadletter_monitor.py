"""Counts what lands on the dead-letter topic, whichever worker parked it."""

from __future__ import annotations

from typing import Any

import faust

from agents.context import PipelineContext
from stream import metrics

AGENT = "deadletter_monitor"


def register(ctx: PipelineContext) -> Any:
    topic = ctx.topic("deadletter")
    name = topic.get_topic_name()

    async def monitor(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            headers = dict(event.message.headers or [])
            reason = headers.get("paystream-reason", b"unknown")
            text = reason.decode() if isinstance(reason, bytes) else str(reason)
            metrics.DEAD_LETTERS.labels(name, text).inc()
            metrics.EVENTS_IN.labels(AGENT).inc()

    return ctx.app.agent(topic, name=AGENT)(monitor)
