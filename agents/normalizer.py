"""Stream agent: raw PayTrace records -> canonical payments, re-emitted only on state change."""

from __future__ import annotations

import time
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.transform import InvalidRecord, to_payment

AGENT = "payment_normalizer"


def register(ctx: PipelineContext) -> Any:
    state = ctx.app.Table(
        "payment-state",
        default=str,
        key_type=str,
        value_type=str,
        partitions=ctx.kafka.partitions,
    )
    raw_topic = ctx.topic("paytrace_raw")
    payments = ctx.topic("payments")
    dlq = ctx.topic("deadletter")

    async def normalize(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            started = time.perf_counter()
            metrics.EVENTS_IN.labels(AGENT).inc()
            try:
                raw = RawPayTraceTransaction.model_validate_json(event.value)
                payment = to_payment(raw, ctx.mapping)
            except (ValidationError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, InvalidRecord) else "malformed"
                await dead_letter(
                    dlq, agent=AGENT, reason=reason, error=str(exc), **from_event(event)
                )
                continue
            key = payment.transaction_id
            fingerprint = payment.fingerprint()
            if state[key] == fingerprint:
                continue  # seen in this state already: the poll overlap or a replay
            state[key] = fingerprint
            await payments.send(key=key.encode(), value=payment.model_dump_json().encode())
            metrics.EVENTS_OUT.labels(AGENT).inc()
            metrics.PROCESSING_SECONDS.labels(AGENT).observe(time.perf_counter() - started)

    return ctx.app.agent(raw_topic, name=AGENT)(normalize)
