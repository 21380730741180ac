"""The charge trigger on the runtime, without a broker: changes in, commands or outcomes out."""

from __future__ import annotations

from typing import Any

from connectors.salesforce.ids import make_id
from schemas.collection import ChargeCommand, SalesforceChange
from stream import metrics
from stream.runtime import flow_metrics
from tests.unit import flow_fakes
from tests.unit.flow_fakes import context, dead_letters, flow, incoming, sent

OPPORTUNITY = make_id("006", 7)


def change(**fields: Any) -> SalesforceChange:
    values: dict[str, Any] = {
        "topic": "/data/OpportunityChangeEvent",
        "entity": "Opportunity",
        "change_type": "UPDATE",
        "record_ids": [OPPORTUNITY],
        "changed_fields": ["StageName"],
        "values": {"StageName": "Closed Won"},
        "change_origin": "com/salesforce/api/rest/62.0;client=someone",
    }
    values.update(fields)
    return SalesforceChange.model_validate(values)


def ignored(reason: str) -> float:
    return flow_metrics.EVENTS_IGNORED.labels("charge_trigger", reason)._value.get()


async def test_closed_won_becomes_one_command_keyed_by_the_business_event() -> None:
    ctx = context()
    requested = metrics.CHARGES.labels("requested")._value.get()
    await flow("charge_trigger", ctx).handle([incoming(change(), key=OPPORTUNITY)])
    (out,) = sent(ctx, "charge_commands")
    command = ChargeCommand.model_validate_json(out.value)
    assert out.key == f"Opportunity:{OPPORTUNITY}:closed_won".encode() == command.key.encode()
    assert (command.object, command.record_id, command.trigger) == (
        "Opportunity",
        OPPORTUNITY,
        "closed_won",
    )
    assert metrics.CHARGES.labels("requested")._value.get() == requested + 1
    assert not dead_letters(ctx)


async def test_own_write_back_and_changes_that_fire_nothing_are_ignored() -> None:
    ctx = context()
    own, none = ignored("own_write"), ignored("no_trigger")
    trigger = flow("charge_trigger", ctx)
    await trigger.handle(
        [
            incoming(change(change_origin="com/salesforce/api/rest/62.0;client=paystream")),
            incoming(change(changed_fields=["Description"]), offset=1),  # a later edit
            incoming(change(values={"StageName": "Prospecting"}), offset=2),
        ]
    )
    assert sent(ctx, "charge_commands") == []
    assert not dead_letters(ctx)
    assert ignored("own_write") == own + 1
    assert ignored("no_trigger") == none + 2


async def test_a_change_that_is_not_one_is_a_dead_letter_and_the_flow_goes_on() -> None:
    ctx = context()
    await flow("charge_trigger", ctx).handle(
        [incoming(b'{"entity": 1}'), incoming(change(), key=OPPORTUNITY, offset=1)]
    )
    assert [d.reason for d in dead_letters(ctx)] == ["malformed"]
    assert len(sent(ctx, "charge_commands")) == 1


async def test_order_created_fires_and_needs_no_field() -> None:
    ctx = context()
    order = make_id("801", 3)
    created = change(
        topic="/data/OrderChangeEvent",
        entity="Order",
        change_type="CREATE",
        record_ids=[order],
        changed_fields=[],
        values={"Status": "Draft"},
    )
    await flow("charge_trigger", ctx).handle([incoming(created, key=order)])
    assert [s.key for s in sent(ctx, "charge_commands")] == [
        f"Order:{order}:order_created".encode()
    ]


def test_the_trigger_flow_is_attached_even_without_triggers() -> None:
    mapping = flow_fakes.load_mapping(None)
    bare = mapping.model_copy(
        update={"collection": mapping.collection.model_copy(update={"triggers": []})}
    )
    assert flow("charge_trigger", context(mapping=bare)).enabled()
