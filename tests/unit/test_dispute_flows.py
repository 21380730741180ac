"""The two dispute sinks on fake clients: each stage's effect in Salesforce and Sage Pro, the
ledger balanced across sale, chargeback and won/lost, and every notification again changing
nothing."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from agents.dispute_salesforce import due_soon
from connectors.sagepro.models import CreditMemo, GLAccount, JournalEntry
from connectors.sagepro.models import Payment as SagePayment
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.dispute import Dispute, DisputeStage
from tests.unit import flow_fakes

CHART = ("1000", "1010", "1200", "1210", "2100", "4000", "4900")
SALE = "1000001"


class FakeSage:
    """Idempotent by reference like Sage Pro; a refund reopens what the sale applied."""

    def __init__(self) -> None:
        self.payments: dict[str, SagePayment] = {}
        self.memos: dict[str, CreditMemo] = {}
        self.entries: dict[str, JournalEntry] = {}
        self.calls = 0

    async def get_gl_accounts(self) -> list[GLAccount]:
        return [GLAccount(gl_account_id=a, name=a, account_type="Asset") for a in CHART]

    async def get_payment(self, reference: str) -> SagePayment | None:
        return self.payments.get(reference)

    async def post_payment(self, payment: SagePayment) -> SagePayment:
        self.calls += 1
        stored = payment.model_copy(update={"applied_amount": payment.amount})
        return self.payments.setdefault(payment.payment_reference, stored)

    async def post_credit_memo(self, memo: CreditMemo) -> CreditMemo:
        self.calls += 1
        return self.memos.setdefault(memo.reference, memo)

    async def get_journal_entry(self, reference: str) -> JournalEntry | None:
        return self.entries.get(reference)

    async def post_journal_entry(self, entry: JournalEntry) -> JournalEntry:
        self.calls += 1
        return self.entries.setdefault(entry.reference, entry)

    def balances(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for entry in self.entries.values():
            for line in entry.lines:
                totals[line.gl_account_id] += line.debit - line.credit
        return {k: v for k, v in totals.items() if v}


class FakeSalesforce:
    def __init__(self) -> None:
        self.records: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.writes = 0

    async def query(self, soql: str) -> list[dict[str, Any]]:
        obj = re.search(r"FROM (\w+)", soql).group(1)  # type: ignore[union-attr]
        field, value = re.search(r"WHERE (\w+) = '([^']*)'", soql).groups()  # type: ignore[union-attr]
        return [r for r in self.records[obj].values() if r.get(field) == value]

    async def create(self, obj: str, fields: dict[str, Any]) -> str:
        self.writes += 1
        record_id = f"{obj[:3]}{len(self.records[obj]):012d}"
        self.records[obj][record_id] = {"Id": record_id, **fields}
        return record_id

    async def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        self.writes += 1
        self.records[obj][record_id].update(fields)


def dispute(stage: DisputeStage, **changes: Any) -> Dispute:
    fields: dict[str, Any] = {
        "case_id": "CB-1",
        "transaction_id": SALE,
        "amount": Decimal("110.00"),
        "currency": "USD",
        "reason_code": "10.4",
        "reason": "Fraud, card 4111 1111 1111 1111",
        "stage": stage,
        "due_date": date(2030, 1, 15),
        "received_at": datetime(2029, 12, 20, tzinfo=UTC),
        "source": "push:paytrace",
        **changes,
    }
    return Dispute(**fields)


def incoming(d: Dispute, offset: int = 0) -> Any:
    return flow_fakes.incoming(d, key=d.transaction_id, topic="disputes", offset=offset)


@pytest.fixture
def sage() -> FakeSage:
    fake = FakeSage()
    fake.payments[SALE] = SagePayment(
        payment_reference=SALE,
        payment_date=date(2029, 12, 1),
        amount=Decimal("110.00"),
        customer_id="C-1",
        invoice_id="INV-1",
        payment_status=SageStatus.PAID,
        applied_amount=Decimal("110.00"),
        unapplied_amount=Decimal("0.00"),
    )
    # the sale's own entry: Dr clearing / Cr receivable
    fake.entries[SALE] = JournalEntry(
        reference=SALE,
        entry_date=date(2029, 12, 1),
        lines=[
            {"gl_account_id": "1010", "debit": Decimal("110.00")},  # type: ignore[list-item]
            {"gl_account_id": "1200", "credit": Decimal("110.00")},  # type: ignore[list-item]
        ],
    )
    return fake


@pytest.fixture
def salesforce() -> FakeSalesforce:
    fake = FakeSalesforce()
    fake.records["Payment__c"]["a00000000000001"] = {
        "Id": "a00000000000001",
        "PaymentID__c": SALE,
        "Status__c": "Settled",
        "Account__c": "001000000000001",
        "Opportunity__c": "006000000000001",
        "Order__c": None,
    }
    return fake


def flows(sage: FakeSage, salesforce: FakeSalesforce) -> tuple[Any, Any, Any]:
    ctx = flow_fakes.context(
        flow_fakes.FakeConnectors(sagepro_client=sage, salesforce_client=salesforce)
    )
    return (
        ctx,
        flow_fakes.flow("sagepro_dispute_sink", ctx),
        flow_fakes.flow("salesforce_dispute_sink", ctx),
    )


async def deliver(flow: Any, *records: Dispute) -> None:
    await flow.handle([incoming(d, i) for i, d in enumerate(records)])


@pytest.mark.parametrize(
    ("final", "balances"),
    [
        (DisputeStage.WON, {"1200": Decimal("-110.00"), "1010": Decimal("110.00")}),
        (DisputeStage.REVERSED, {"1200": Decimal("-110.00"), "1010": Decimal("110.00")}),
        (DisputeStage.LOST, {"1200": Decimal("-110.00"), "4900": Decimal("110.00")}),
    ],
)
async def test_every_stage_in_both_systems_three_times_over(
    sage: FakeSage, salesforce: FakeSalesforce, final: DisputeStage, balances: dict[str, Decimal]
) -> None:
    ctx, sage_flow, sf_flow = flows(sage, salesforce)
    stages = [
        dispute(DisputeStage.RETRIEVAL_REQUEST, due_date=date(2030, 1, 5)),
        dispute(DisputeStage.CHARGEBACK),
        dispute(DisputeStage.REPRESENTMENT),
        dispute(final),
    ]
    for step in stages:
        for _ in range(3):  # every notification delivered three times
            await deliver(sage_flow, step)
            await deliver(sf_flow, step)
        if step.stage is DisputeStage.CHARGEBACK:
            memo = sage.memos["DSP-CB-1-CB"]
            assert (memo.invoice_id, memo.amount) == ("INV-1", Decimal("110.00"))
            assert "4111 1111" not in (memo.reason or "")
            reversal = sage.payments["DSP-CB-1-CB"]
            assert reversal.amount == Decimal("-110.00")
            assert reversal.original_payment_reference == SALE
            assert sage.balances() == {"1200": Decimal("-110.00"), "1210": Decimal("110.00")}
            payment = salesforce.records["Payment__c"]["a00000000000001"]
            assert payment["Status__c"] == "Chargeback"
    assert flow_fakes.dead_letters(ctx) == []
    assert sage.balances() == balances  # the ledger balances: every entry has Dr == Cr
    for entry in sage.entries.values():
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
    [case] = salesforce.records["Case"].values()
    assert case["Dispute_Case_Id__c"] == "CB-1" and case["Priority"] == "High"
    assert case["Dispute_Stage__c"] == final.value and case["Status"] == "Closed"
    assert case["AccountId"] == "001000000000001"
    assert case["Opportunity__c"] == "006000000000001" and "Order__c" not in case
    assert case["Dispute_Due_Date__c"] == "2030-01-15"
    assert case["Reason"].startswith("10.4") and "4111 1111" not in case["Description"]
    status = salesforce.records["Payment__c"]["a00000000000001"]["Status__c"]
    assert status == ("Chargeback" if final is DisputeStage.LOST else "Settled")
    for step in stages:  # everything again, late and out of order: nothing changes
        await deliver(sf_flow, step)
        await deliver(sage_flow, step)
    assert salesforce.records["Case"][case["Id"]]["Dispute_Stage__c"] == final.value
    assert sage.balances() == balances and len(sage.entries) == 3


async def test_a_final_stage_first_posts_its_chargeback_too(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    _, sage_flow, _ = flows(sage, salesforce)
    await deliver(sage_flow, dispute(DisputeStage.LOST))
    assert set(sage.entries) == {SALE, "DSP-CB-1-CB", "DSP-CB-1-LOST"}
    assert sage.balances() == {"1200": Decimal("-110.00"), "4900": Decimal("110.00")}


async def test_won_after_lost_is_a_conflict(sage: FakeSage, salesforce: FakeSalesforce) -> None:
    ctx, sage_flow, _ = flows(sage, salesforce)
    await deliver(sage_flow, dispute(DisputeStage.LOST))
    await deliver(sage_flow, dispute(DisputeStage.WON))
    [letter] = flow_fakes.dead_letters(ctx)
    assert letter.reason == "dispute_stage_conflict"


async def test_a_dispute_of_a_payment_not_seen_yet_is_dead_lettered(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    ctx, sage_flow, sf_flow = flows(sage, salesforce)
    unknown = dispute(DisputeStage.CHARGEBACK, transaction_id="999")
    await deliver(sage_flow, unknown)
    await deliver(sf_flow, unknown)
    letters = flow_fakes.dead_letters(ctx)
    assert [letter.reason for letter in letters] == ["dispute_payment_unknown"] * 2
    assert sage.calls == 0 and salesforce.writes == 0


async def test_stages_without_ledger_effect_are_ignored(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    ctx, sage_flow, _ = flows(sage, salesforce)
    await deliver(sage_flow, dispute(DisputeStage.RETRIEVAL_REQUEST))
    assert sage.calls == 0 and flow_fakes.dead_letters(ctx) == []


def test_due_soon_counts_open_cases_only() -> None:
    cases = [
        '{"A": {"stage": "chargeback", "due": "2030-01-03"}, '
        '"B": {"stage": "won", "due": "2030-01-02"}}',
        '{"C": {"stage": "retrieval_request", "due": "2030-01-10"}, '
        '"D": {"stage": "chargeback", "due": null}}',
        "",
    ]
    assert due_soon(cases, date(2030, 1, 1), 3) == 1
    assert due_soon(cases, date(2030, 1, 1), 10) == 2
