"""Stream agent: Salesforce changes -> charge commands, keyed by the business event.

A command's key is ``<object>:<record id>:<trigger>``: the same change delivered three
times, replayed, or found again by a resync yields the same key, and the charge agent's
ledger lets a key charge once. Our own writes (changeOrigin client) never trigger anything.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from connectors.salesforce.pubsub.events import origin_client
from schemas.collection import ChargeCommand, SalesforceChange
from stream import metrics
from stream.mapping import ChargeTrigger

AGENT = "charge_trigger"


def fires(trigger: ChargeTrigger, change: SalesforceChange) -> bool:
    if trigger.object != change.entity:
        return False
    if change.change_type == "RESYNC":
        if trigger.field is not None:
            return change.values.get(trigger.field) == trigger.value
        return "CREATE" in trigger.change_types and change.created_in_window
    if change.change_type not in trigger.change_types:
        return False
    if trigger.field is None:
        return True
    if change.values.get(trigger.field) != trigger.value:
        return False
    # An UPDATE fires only when it is the change that set the value, not a later edit.
    return change.change_type != "UPDATE" or trigger.field in change.changed_fields


def commands_for(change: SalesforceChange, triggers: list[ChargeTrigger]) -> list[ChargeCommand]:
    now = datetime.now(UTC)
    return [
        ChargeCommand(
            key=f"{trigger.object}:{record_id}:{trigger.name}",
            object=trigger.object,
            record_id=record_id,
            trigger=trigger.name,
            requested_at=now,
        )
        for trigger in triggers
        if fires(trigger, change)
        for record_id in change.record_ids
    ]


def register(ctx: PipelineContext) -> Any:
    collection = ctx.mapping.collection
    commands = ctx.topic("charge_commands")
    dlq = ctx.topic("deadletter")

    async def trigger(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            metrics.EVENTS_IN.labels(AGENT).inc()
            try:
                change = SalesforceChange.model_validate_json(event.value)
            except ValidationError as exc:
                await dead_letter(
                    dlq, agent=AGENT, reason="malformed", error=str(exc), **from_event(event)
                )
                continue
            if origin_client(change.change_origin) == collection.own_client:
                continue  # our own write-back: acting on it would loop
            for command in commands_for(change, collection.triggers):
                await commands.send(
                    key=command.key.encode(), value=command.model_dump_json().encode()
                )
                metrics.CHARGES.labels("requested").inc()
                metrics.EVENTS_OUT.labels(AGENT).inc()

    return ctx.app.agent(ctx.topic("salesforce_cdc"), name=AGENT)(trigger)
