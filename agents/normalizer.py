"""Stream agent: raw PayTrace records -> canonical payments, re-emitted only on state change.

The dedupe table remembers a state only after the payment carrying it is acknowledged by
Kafka, so a crash can cause a re-emit (harmless: sinks are idempotent) but never a loss,
whichever processing guarantee the worker runs with.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from schemas.payment import Payment
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.transform import InvalidRecord, to_payment

AGENT = "payment_normalizer"
BATCH = 500


def register(ctx: PipelineContext) -> Any:
    # use_partitioner: the changelog partition follows the key, as the payments topic does,
    # so the table can be written after a batch rather than inside each event's context.
    # Raw byte keys, as on the topic: a JSON-quoted key would hash to another partition.
    state = ctx.app.Table(
        "payment-state",
        default=str,
        key_type=bytes,
        value_type=str,
        partitions=ctx.kafka.partitions,
        use_partitioner=True,
    )
    raw_topic = ctx.topic("paytrace_raw")
    payments = ctx.topic("payments")
    dlq = ctx.topic("deadletter")

    async def parse(event: faust.EventT) -> Payment | None:
        try:
            raw = RawPayTraceTransaction.model_validate_json(event.value)
            return to_payment(raw, ctx.mapping)
        except (ValidationError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, InvalidRecord) else "malformed"
            await dead_letter(dlq, agent=AGENT, reason=reason, error=str(exc), **from_event(event))
            return None

    async def normalize(stream: faust.StreamT[Any]) -> None:
        # take_events is faust-streaming's, missing from its StreamT stub.
        async for batch in stream.take_events(BATCH, 0.2):  # type: ignore[attr-defined]
            started = time.perf_counter()
            metrics.EVENTS_IN.labels(AGENT).inc(len(batch))
            changed: dict[str, str] = {}
            deliveries = []
            for event in batch:
                payment = await parse(event)
                if payment is None:
                    continue
                key, fingerprint = payment.transaction_id, payment.fingerprint()
                if changed.get(key, state[key.encode()]) == fingerprint:
                    continue  # seen in this state already: the poll overlap or a replay
                changed[key] = fingerprint
                deliveries.append(
                    await payments.send(key=key.encode(), value=payment.model_dump_json().encode())
                )
            await asyncio.gather(*deliveries)
            for key, fingerprint in changed.items():
                state[key.encode()] = fingerprint
            metrics.EVENTS_OUT.labels(AGENT).inc(len(deliveries))
            metrics.PROCESSING_SECONDS.labels(AGENT).observe(time.perf_counter() - started)

    return ctx.app.agent(raw_topic, name=AGENT)(normalize)
