"""Sink agent: canonical payments -> ``Payment__c`` upserts in sObject Collections of 200.

Upsert by the PayTrace transaction id makes every replay harmless. A record Salesforce
refuses is dead-lettered with its error; the rest of the batch is kept. A record replayed for
Sage Pro only (header ``paystream-replay-sink: sagepro``) is acknowledged without a call.
"""

from __future__ import annotations

import time
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from agents.delivery import until_delivered
from connectors.base.errors import Action
from connectors.salesforce.errors import record_error
from connectors.salesforce.models import RecordResult
from schemas.payment import Payment
from stream import metrics
from stream.replay_plan import sink_skips
from stream.to_salesforce import payment_record

AGENT = "salesforce_payment_sink"
SINK = "salesforce"  # the name `paystream replay payments --sink` uses


def register(ctx: PipelineContext) -> Any:
    dlq = ctx.topic("deadletter")
    sf_map = ctx.mapping.salesforce

    async def upsert(records: list[dict[str, Any]]) -> list[RecordResult]:
        results = await ctx.connectors.salesforce().upsert_collection(
            sf_map.object, sf_map.external_id_field, records, all_or_none=False
        )
        for result in results:
            error = record_error(result)
            if error is not None and (error.retriable or error.action is Action.FATAL):
                raise error  # the whole batch again: upserts by external id are idempotent
        return results

    async def write(batch: list[faust.EventT]) -> None:
        latest: dict[str, tuple[faust.EventT, Payment]] = {}
        for event in batch:
            metrics.EVENTS_IN.labels(AGENT).inc()
            if sink_skips(SINK, event.headers):
                continue  # replayed for Sage Pro only: acknowledged with the batch, no call
            try:
                payment = Payment.model_validate_json(event.value)
            except ValidationError as exc:
                await dead_letter(
                    dlq, agent=AGENT, reason="malformed", error=str(exc), **from_event(event)
                )
                continue
            # Keyed topic, in order: the last state of a transaction in the batch is current.
            latest.pop(payment.transaction_id, None)
            latest[payment.transaction_id] = (event, payment)
        if not latest:
            return
        items = list(latest.values())
        records = [payment_record(payment, ctx.mapping) for _, payment in items]
        results = await until_delivered(
            lambda: upsert(records), agent=AGENT, what=f"{len(records)} Payment__c upserts"
        )
        for (event, payment), result in zip(items, results, strict=True):
            if result.success:
                metrics.EVENTS_OUT.labels(AGENT).inc()
                continue
            error = record_error(result)
            reason = error.reason if error else "salesforce:unknown"
            detail = str(error) if error else "record refused without an error"
            await dead_letter(
                dlq,
                agent=AGENT,
                reason=reason,
                error=f"Payment__c {payment.transaction_id}: {detail}",
                **from_event(event),
            )

    async def sink(stream: faust.StreamT[Any]) -> None:
        # take_events is faust-streaming's, missing from its StreamT stub.
        async for batch in stream.take_events(  # type: ignore[attr-defined]
            ctx.worker.sink_batch_size, ctx.worker.sink_batch_seconds
        ):
            started = time.perf_counter()
            metrics.SINK_BATCH_SIZE.labels(AGENT).observe(len(batch))
            await write(batch)
            metrics.PROCESSING_SECONDS.labels(AGENT).observe(time.perf_counter() - started)

    return ctx.app.agent(ctx.topic("payments"), name=AGENT)(sink)
