"""The charge agent calls Salesforce per batch: one SOQL per object (``Id IN (...)``, the
Account's vault id as a parent field), one sObject Collections update for every write-back, one
look-up per object and one Collections create for the Tasks/Cases. A record's failure stays
its own."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base.errors import Retriable
from connectors.salesforce.ids import make_id
from schemas.collection import LedgerEntry, LedgerState
from tests.unit.flow_fakes import dead_letters
from tests.unit.test_charge_agent_flow import ACCOUNT, ORDER, World, command, world

__all__ = ["world"]  # the fixture, shared with the single-command tests

OPPORTUNITIES = [make_id("006", n) for n in range(2, 7)]


@pytest.fixture
def many(world: World) -> World:
    """Five more Closed Won Opportunities, each on its own Account."""
    for n, opportunity in enumerate(OPPORTUNITIES):
        account = make_id("001", 10 + n)
        world.salesforce.records[("Account", account)] = {
            "Id": account,
            "CustomerVaultID__c": f"VAULT-{n}",
        }
        world.salesforce.records[("Opportunity", opportunity)] = {
            "Id": opportunity,
            "AccountId": account,
            "StageName": "Closed Won",
            "Amount": 10 + n,
        }
    return world


def ledger_states(world: World, *record_ids: str) -> list[tuple[LedgerState, bool]]:
    found = [world.ledger(f"Opportunity:{rid}:closed_won") for rid in record_ids]
    return [(e.state, e.written_back) for e in found if e is not None]


async def test_a_batch_costs_a_few_calls_whatever_its_size(many: World) -> None:
    await many.send(
        *(command(rid) for rid in OPPORTUNITIES), command(ORDER, "order_created", "Order")
    )
    assert len(many.paytrace.sales) == 6
    calls = many.salesforce.calls
    # A query per object (the Accounts' vault ids included), one update: no single-record read
    # or write. This org lacks the description's fields: each object's first query is refused
    # and asked again without them, once for the agent's life.
    assert calls == {"query": 2 * 2, "update": 1}
    assert ledger_states(many, *OPPORTUNITIES) == [(LedgerState.DONE, True)] * 5
    assert many.salesforce.records[("Order", ORDER)]["PaymentStatus__c"] == "Paid"
    assert sum(calls.values()) <= 1.5 * 6
    calls.clear()
    many.salesforce.records[("Opportunity", make_id("006", 1))]["Amount"] = 5
    await many.send(command())  # a later batch: the missing fields are known already
    assert calls == {"query": 1, "update": 1}


async def test_declines_make_their_tasks_and_cases_in_one_create(many: World) -> None:
    many.paytrace.decline = True
    await many.send(*(command(rid) for rid in OPPORTUNITIES[:3]))
    calls = many.salesforce.calls
    # The read (asked again without the missing fields), one look-up per object (Task, Case)
    # and one create for both.
    assert calls["query"] == 2 + 2 and calls["create"] == 1 and calls["update"] == 1
    assert sorted(o for o, _ in many.salesforce.created) == ["Case"] * 3 + ["Task"] * 3
    assert ledger_states(many, *OPPORTUNITIES[:3]) == [(LedgerState.DECLINED, True)] * 3

    # A write-back resumed (its answer lost before the ledger said so) makes no second Task.
    key = f"Opportunity:{OPPORTUNITIES[0]}:closed_won"
    entry = many.ledger(key)
    assert entry is not None
    resumed = entry.model_copy(update={"written_back": False})
    many.agent.ledger[key.encode()] = resumed.model_dump_json()
    await many.send(command(OPPORTUNITIES[0]))
    assert len(many.salesforce.created) == 6
    assert len(many.paytrace.sales) == 3


async def test_a_records_failure_in_the_collection_answer_is_its_own(many: World) -> None:
    failing = OPPORTUNITIES[1]
    many.salesforce.failing.add(failing)  # e.g. deleted between the read and the write-back
    await many.send(*(command(rid) for rid in OPPORTUNITIES))
    (letter,) = dead_letters(many.ctx)
    assert (letter.reason, letter.key) == (
        "salesforce:ENTITY_IS_DELETED",
        f"Opportunity:{failing}:closed_won",
    )
    states = dict(zip(OPPORTUNITIES, ledger_states(many, *OPPORTUNITIES), strict=True))
    assert states.pop(failing) == (LedgerState.DONE, False)  # charged; its write-back not in
    assert set(states.values()) == {(LedgerState.DONE, True)}
    assert len(many.paytrace.sales) == 5

    many.salesforce.failing.clear()
    await many.send(command(failing))  # the next attempt resumes at the write-back
    assert len(many.paytrace.sales) == 5
    assert ledger_states(many, failing) == [(LedgerState.DONE, True)]


async def test_the_same_command_twice_in_a_batch_is_one_sale_and_one_write(world: World) -> None:
    await world.send(command(), command())
    assert world.paytrace.sales == [("VAULT-1", Decimal("250.00"), make_id("006", 1))]
    assert world.salesforce.calls["update"] == 1
    assert not dead_letters(world.ctx)


async def test_an_outage_of_the_batch_read_charges_nothing_and_holds_the_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    outages = [Retriable("down", system="salesforce", status=503)]
    real = world.salesforce.query

    async def query(*args: Any) -> Any:
        if outages:
            raise outages.pop()
        return await real(*args)

    monkeypatch.setattr(world.salesforce, "query", query)
    await world.send(command(), command(ORDER, "order_created", "Order"))
    assert len(world.paytrace.sales) == 2  # held, then written once Salesforce answered
    assert not dead_letters(world.ctx)


async def test_a_pending_key_with_a_lost_sale_is_resolved_in_a_batch(many: World) -> None:
    key = f"Opportunity:{OPPORTUNITIES[0]}:closed_won"
    many.paytrace.sales.append(("VAULT-0", Decimal("10.00"), OPPORTUNITIES[0]))
    pending = LedgerEntry(
        key=key, state=LedgerState.PENDING, amount="10.00", updated_at=datetime.now(UTC)
    )
    many.agent.ledger[key.encode()] = pending.model_dump_json()
    await many.send(*(command(rid) for rid in OPPORTUNITIES[:2]))
    assert len(many.paytrace.sales) == 2  # the lost one found in the export, one new
    assert ledger_states(many, *OPPORTUNITIES[:2]) == [(LedgerState.DONE, True)] * 2
    assert many.salesforce.calls["update"] == 1
    assert many.salesforce.records[("Account", ACCOUNT)] == {
        "Id": ACCOUNT,
        "CustomerVaultID__c": "VAULT-1",
    }
