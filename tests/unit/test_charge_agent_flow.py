"""The charge agent on the runtime, without a broker: commands in; sales, write-backs, ledger
entries and dead letters out. Money moves only for a trigger Salesforce confirms now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.base.errors import RecordError, Retriable
from connectors.paytrace.models import TransactionResult
from connectors.salesforce.ids import make_id
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream import metrics
from tests.unit.flow_fakes import (
    FakeCollections,
    FakeConnectors,
    FakeSage,
    context,
    dead_letters,
    flow,
    incoming,
)

ACCOUNT = make_id("001", 1)
OPPORTUNITY = make_id("006", 1)
ORDER = make_id("801", 1)
CARD = "4111111111111111"


@dataclass
class FakeSalesforce(FakeCollections):
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    created: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_updates: int = 0  # the next N update calls fail as an outage
    calls: Counter[str] = field(default_factory=Counter)
    failing: set[str] = field(default_factory=set)

    def field_names(self, obj: str) -> set[str]:
        """The org's fields (no description fields): any object here has them all."""
        names = {"Id", "OwnerId", "AccountId", "StageName", "Amount", "Status", "Amount__c"}
        names |= {"PaymentStatus__c", "PaymentTransactionID__c", "CustomerVaultID__c"}
        return names.union(*(r for (o, _), r in self.records.items() if o == obj))

    async def row(self, obj: str, record_id: str) -> dict[str, Any] | None:
        found = self.records.get((obj, record_id))
        return dict(found) if found is not None else None

    async def apply(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        if (obj, record_id) not in self.records:
            raise RecordError("no such row", system="salesforce", code="ENTITY_IS_DELETED")
        self.records[(obj, record_id)].update(fields)

    async def update_collection(self, records: Any) -> Any:
        if self.fail_updates:
            self.fail_updates -= 1
            self.calls["update"] += 1
            raise Retriable("down", system="salesforce", status=503)
        return await super().update_collection(records)

    async def make(self, obj: str, fields: dict[str, Any]) -> str:
        self.created.append((obj, fields))
        return make_id("00T", len(self.created))


@dataclass
class FakePayTrace:
    sales: list[tuple[str, Decimal, str]] = field(default_factory=list)  # vault, amount, invoice
    decline: bool = False
    message: str = "approved"

    async def export_by_date_range(self, *_: Any, invoice_id: str) -> list[Any]:
        return [
            SimpleNamespace(
                transaction_type="SALE",
                status="APPROVED",
                approval_message="APPROVED",
                transaction_id=n + 1,
            )
            for n, (_, _, invoice) in enumerate(self.sales)
            if invoice == invoice_id
        ]

    async def sale_by_customer(
        self, vault: str, amount: Decimal, invoice: str, **_: Any
    ) -> TransactionResult:
        self.sales.append((vault, amount, invoice))
        code = 102 if self.decline else 101
        return TransactionResult(
            success=not self.decline,
            response_code=code,
            status_message=self.message,
            transaction_id=len(self.sales),
        )


@dataclass
class World:
    salesforce: FakeSalesforce
    sage: FakeSage
    paytrace: FakePayTrace
    agent: Any
    ctx: Any

    def ledger(self, key: str) -> LedgerEntry | None:
        raw = self.agent.ledger.get(key.encode())
        return LedgerEntry.model_validate_json(raw) if raw else None

    async def send(self, *commands: tuple[ChargeCommand | bytes, str | None]) -> None:
        await self.agent.handle([incoming(c, key=k, offset=n) for n, (c, k) in enumerate(commands)])


@pytest.fixture
def world() -> World:
    salesforce = FakeSalesforce()
    salesforce.records[("Account", ACCOUNT)] = {"Id": ACCOUNT, "CustomerVaultID__c": "VAULT-1"}
    salesforce.records[("Opportunity", OPPORTUNITY)] = {
        "Id": OPPORTUNITY,
        "AccountId": ACCOUNT,
        "StageName": "Closed Won",
        "Amount": 250.0,
        "OwnerId": make_id("005", 1),
    }
    salesforce.records[("Order", ORDER)] = {
        "Id": ORDER,
        "AccountId": ACCOUNT,
        "Status": "Draft",
        "Amount__c": "99.50",
    }
    sage, paytrace = FakeSage(), FakePayTrace()
    ctx = context(FakeConnectors(salesforce_client=salesforce, sagepro_client=sage))
    agent = flow("charge_agent", ctx)
    agent._paytrace = paytrace
    return World(salesforce, sage, paytrace, agent, ctx)


def command(
    record_id: str = OPPORTUNITY,
    trigger: str = "closed_won",
    obj: str = "Opportunity",
    key: str | None = None,
) -> tuple[ChargeCommand, str]:
    real = f"{obj}:{record_id}:{trigger}"
    made = ChargeCommand.model_validate(
        {
            "key": key or real,
            "object": obj,
            "record_id": record_id,
            "trigger": trigger,
            "requested_at": datetime.now(UTC),
        }
    )
    return made, key or real


def refused(reason: str) -> float:
    return metrics.CHARGES_REFUSED.labels(reason)._value.get()


def charged() -> float:
    return metrics.CHARGES.labels("charged")._value.get()


async def test_a_real_closed_won_charges_once_and_writes_the_outcome_back(world: World) -> None:
    before = charged()
    await world.send(command())
    assert world.paytrace.sales == [("VAULT-1", Decimal("250.00"), OPPORTUNITY)]
    opportunity = world.salesforce.records[("Opportunity", OPPORTUNITY)]
    assert opportunity["PaymentStatus__c"] == "Paid"
    assert opportunity["PaymentTransactionID__c"] == "1"
    entry = world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won")
    assert entry is not None and entry.state is LedgerState.DONE and entry.written_back
    assert world.sage.invoices[OPPORTUNITY].total_amount == Decimal("250.00")
    assert charged() == before + 1
    assert not dead_letters(world.ctx)


async def test_the_same_command_three_times_is_one_sale(world: World) -> None:
    duplicates = metrics.CHARGES.labels("duplicate")._value.get()
    await world.send(command(), command())
    await world.send(command())
    assert len(world.paytrace.sales) == 1
    assert metrics.CHARGES.labels("duplicate")._value.get() == duplicates + 2
    assert not dead_letters(world.ctx)


async def test_a_new_order_charges_its_amount(world: World) -> None:
    await world.send(command(ORDER, "order_created", "Order"))
    assert world.paytrace.sales == [("VAULT-1", Decimal("99.50"), ORDER)]


@pytest.mark.parametrize(
    ("made", "reason"),
    [
        (command(trigger="anything_goes"), "unknown_trigger"),
        (command(trigger="order_created"), "unknown_trigger"),  # an Order's trigger
        (command(key=f"Opportunity:{OPPORTUNITY}:closed_won:again"), "malformed_key"),
        ((command()[0], "some-other-kafka-key"), "malformed_key"),
        (command(record_id="../../services/data"), "malformed_key"),
        (command(record_id=ORDER), "malformed_key"),  # an Order id as an Opportunity
        (command(record_id=make_id("006", 99)), "record_not_found"),
    ],
)
async def test_a_forged_command_moves_no_money(
    world: World, made: tuple[ChargeCommand, str], reason: str
) -> None:
    before = refused(reason)
    await world.send(made)
    assert world.paytrace.sales == []
    assert [d.reason for d in dead_letters(world.ctx)] == [f"charge_refused:{reason}"]
    assert refused(reason) == before + 1
    assert dict(world.agent.ledger) == {}  # no key taken
    assert world.salesforce.created == []


async def test_a_closed_won_claim_for_a_prospecting_opportunity_is_refused_and_blocks_nothing(
    world: World,
) -> None:
    opportunity = world.salesforce.records[("Opportunity", OPPORTUNITY)]
    opportunity["StageName"] = "Prospecting"
    before = refused("trigger_not_current")
    await world.send(command())
    assert world.paytrace.sales == []
    (letter,) = dead_letters(world.ctx)
    assert letter.reason == "charge_refused:trigger_not_current"
    assert "Prospecting" in letter.error
    assert refused("trigger_not_current") == before + 1
    assert world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won") is None

    opportunity["StageName"] = "Closed Won"  # the deal really closes later: it charges
    await world.send(command())
    assert world.paytrace.sales == [("VAULT-1", Decimal("250.00"), OPPORTUNITY)]
    assert len(dead_letters(world.ctx)) == 1


async def test_an_amount_of_zero_is_refused_and_recorded_failed_for_a_real_trigger(
    world: World,
) -> None:
    world.salesforce.records[("Opportunity", OPPORTUNITY)]["Amount"] = 0
    before = refused("no_amount")
    await world.send(command())
    assert world.paytrace.sales == []
    assert [d.reason for d in dead_letters(world.ctx)] == ["charge_refused:no_amount"]
    assert refused("no_amount") == before + 1
    entry = world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won")
    assert entry is not None and entry.state is LedgerState.FAILED and entry.written_back
    record = world.salesforce.records[("Opportunity", OPPORTUNITY)]
    assert record["PaymentStatus__c"] == "Payment failed"


@pytest.mark.parametrize("amount", [None, "NaN", "Infinity", -5, "1e40", True])
async def test_no_readable_positive_amount_charges_nothing(world: World, amount: Any) -> None:
    world.salesforce.records[("Opportunity", OPPORTUNITY)]["Amount"] = amount
    await world.send(command())
    assert world.paytrace.sales == []
    assert [d.reason for d in dead_letters(world.ctx)] == ["charge_refused:no_amount"]


async def test_a_record_already_paid_or_invoiced_otherwise_is_refused(world: World) -> None:
    world.salesforce.records[("Order", ORDER)]["PaymentStatus__c"] = "Paid"
    world.sage.invoices[OPPORTUNITY] = SimpleNamespace(total_amount=Decimal("999.00"))
    await world.send(command(ORDER, "order_created", "Order"), command())
    assert world.paytrace.sales == []
    assert [d.reason for d in dead_letters(world.ctx)] == [
        "charge_refused:already_paid",
        "charge_refused:amount_mismatch",
    ]


async def test_a_pending_key_whose_sale_was_made_is_resolved_from_the_export(
    world: World,
) -> None:
    key = f"Opportunity:{OPPORTUNITY}:closed_won"
    world.paytrace.sales.append(("VAULT-1", Decimal("250.00"), OPPORTUNITY))  # answer lost
    pending = LedgerEntry(
        key=key, state=LedgerState.PENDING, amount="250.00", updated_at=datetime.now(UTC)
    )
    world.agent.ledger[key.encode()] = pending.model_dump_json()
    world.salesforce.records[("Opportunity", OPPORTUNITY)]["StageName"] = "Prospecting"
    await world.send(command())
    assert len(world.paytrace.sales) == 1  # no second sale, even though the stage moved
    entry = world.ledger(key)
    assert entry is not None and entry.state is LedgerState.DONE and entry.transaction_id == 1
    assert not dead_letters(world.ctx)


async def test_a_decline_is_final_and_no_card_number_reaches_ledger_or_salesforce(
    world: World,
) -> None:
    world.paytrace.decline, world.paytrace.message = True, f"declined for card {CARD}"
    await world.send(command())
    await world.send(command())
    assert len(world.paytrace.sales) == 1
    entry = world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won")
    assert entry is not None and entry.state is LedgerState.DECLINED
    assert CARD not in entry.detail and "1111" in entry.detail
    assert [o for o, _ in world.salesforce.created] == ["Task", "Case"]
    for _, fields in world.salesforce.created:
        assert CARD not in str(fields)


async def test_no_vault_id_is_payment_method_required(world: World) -> None:
    del world.salesforce.records[("Account", ACCOUNT)]["CustomerVaultID__c"]
    await world.send(command())
    assert world.paytrace.sales == []
    entry = world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won")
    assert entry is not None and entry.state is LedgerState.NO_PAYMENT_METHOD
    assert not dead_letters(world.ctx)


async def test_a_write_back_outage_resumes_at_the_write_back_not_the_sale(world: World) -> None:
    world.salesforce.fail_updates = 1
    await world.send(command())
    assert len(world.paytrace.sales) == 1
    entry = world.ledger(f"Opportunity:{OPPORTUNITY}:closed_won")
    assert entry is not None and entry.written_back
    assert world.salesforce.records[("Opportunity", OPPORTUNITY)]["PaymentStatus__c"] == "Paid"


async def test_a_record_that_is_not_json_or_a_command_is_a_dead_letter(world: World) -> None:
    await world.send((b"{not json", "k"), (b'{"key": "x", "object": "Account"}', "x"))
    assert [d.reason for d in dead_letters(world.ctx)] == ["malformed", "malformed"]
    assert world.paytrace.sales == []


async def test_the_pending_gauge_reads_the_ledger(world: World) -> None:
    key = f"Order:{ORDER}:order_created"
    pending = LedgerEntry(key=key, state=LedgerState.PENDING, updated_at=datetime.now(UTC))
    world.agent.ledger[key.encode()] = pending.model_dump_json()
    await world.agent.measure_pending()
    assert metrics.LEDGER_PENDING._value.get() == 1


async def test_a_duplicate_for_a_record_deleted_before_its_write_back_ends_in_an_outcome(
    world: World,
) -> None:
    key = f"Opportunity:{OPPORTUNITY}:closed_won"
    done = LedgerEntry(key=key, state=LedgerState.DONE, updated_at=datetime.now(UTC))
    world.agent.ledger[key.encode()] = done.model_dump_json()
    del world.salesforce.records[("Opportunity", OPPORTUNITY)]
    await world.send(command())
    assert world.paytrace.sales == []
    assert [d.reason for d in dead_letters(world.ctx)] == ["record_not_found"]
