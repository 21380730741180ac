"""Stream flow: Salesforce changes -> charge commands, keyed by the business event.

A command's key is ``<object>:<record id>:<trigger>``: the same change delivered three
times, replayed, or found again by a resync yields the same key, and the charge agent's
ledger lets a key charge once. Our own writes (changeOrigin client) never trigger anything.

A command is a request, not a proof: anyone who can produce to the commands or CDC topic could
send one. The charge agent confirms it (``confirmed_rule``, then ``confirm_current`` against
Salesforce's current record) before any money moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.ids import KEY_PREFIXES, is_valid_id
from connectors.salesforce.pubsub.events import origin_client
from schemas.collection import ChargeCommand, SalesforceChange
from stream import metrics
from stream.mapping import ChargeTrigger as TriggerRule
from stream.mapping import CollectionMapping
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming


def command_key(obj: str, record_id: str, trigger: str) -> str:
    return f"{obj}:{record_id}:{trigger}"


def fires(trigger: TriggerRule, change: SalesforceChange) -> bool:
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


def commands_for(change: SalesforceChange, triggers: list[TriggerRule]) -> list[ChargeCommand]:
    now = datetime.now(UTC)
    return [
        ChargeCommand(
            key=command_key(trigger.object, record_id, trigger.name),
            object=trigger.object,
            record_id=record_id,
            trigger=trigger.name,
            requested_at=now,
        )
        for trigger in triggers
        if fires(trigger, change)
        for record_id in change.record_ids
    ]


class ChargeRefused(Rejected):
    """A command the agent will not charge: dead-lettered as ``charge_refused:<refusal>``."""

    def __init__(self, refusal: str, detail: str) -> None:
        super().__init__(f"charge_refused:{refusal}", detail)
        self.refusal = refusal


def confirmed_rule(
    command: ChargeCommand, kafka_key: bytes | None, collection: CollectionMapping
) -> TriggerRule:
    """The command's trigger, when its shape is one ``commands_for`` makes; else
    ``ChargeRefused``. No I/O: checked before the ledger is even read."""
    rule = next(
        (t for t in collection.triggers if (t.object, t.name) == (command.object, command.trigger)),
        None,
    )
    if rule is None:
        raise ChargeRefused(
            "unknown_trigger", f"no trigger {command.trigger[:40]!r} for {command.object}"
        )
    prefix = KEY_PREFIXES[command.object]
    if not is_valid_id(command.record_id) or not command.record_id.startswith(prefix):
        raise ChargeRefused(
            "malformed_key", f"{command.record_id[:40]!r} is not an {command.object} id"
        )
    expected = command_key(command.object, command.record_id, command.trigger)
    # The Kafka key too: it picks the partition, and one key on two partitions could be
    # charged by two workers at once (each worker reads only its partitions' ledger).
    if command.key != expected or kafka_key != expected.encode():
        raise ChargeRefused("malformed_key", f"key is not {expected!r}")
    return rule


def confirm_current(
    rule: TriggerRule, record: dict[str, Any], collection: CollectionMapping
) -> None:
    """``ChargeRefused`` unless the record as Salesforce holds it now asks for this charge:
    the trigger's value is current, and the record does not already say it is paid."""
    if rule.field is not None and record.get(rule.field) != rule.value:
        now = str(record.get(rule.field))[:80]
        raise ChargeRefused(
            "trigger_not_current", f"{rule.field} is {now!r}; {rule.name} needs {rule.value!r}"
        )
    # The status field the mapping names for outcomes: "charged" there means this record was
    # paid already (by us under a lost ledger, or by hand); a CREATE trigger has no other state.
    paid = collection.statuses["charged"]
    if collection.status_field and record.get(collection.status_field) == paid:
        raise ChargeRefused("already_paid", f"{collection.status_field} already says {paid!r}")


class ChargeTrigger(StreamProcessor[SalesforceChange]):
    model = SalesforceChange
    ignored_reasons = ("no_output", "own_write", "no_trigger")

    async def process(self, record: Incoming, value: SalesforceChange) -> Sequence[Emit]:
        collection = self.ctx.mapping.collection
        if origin_client(value.change_origin) == collection.own_client:
            raise Ignored("own_write")  # acting on our own write-back would loop
        invalid = [rid for rid in value.record_ids if not is_valid_id(rid)]
        if invalid:
            # Record ids become command keys and request paths: only Salesforce's own shape.
            raise Rejected("invalid_record_id", f"{len(invalid)} record id(s) are no Salesforce id")
        commands = commands_for(value, collection.triggers)
        if not commands:
            raise Ignored("no_trigger")
        metrics.CHARGES.labels("requested").inc(len(commands))
        return [
            Emit("charge_commands", c.key.encode(), c.model_dump_json().encode()) for c in commands
        ]
