"""The settlement reconciler on fake clients, no broker: settlement batches in, one journal
entry and one Settlement__c per batch out, dead letters for what cannot be written."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.base.errors import AlreadyDone, Retriable
from connectors.sagepro.models import GLAccount, JournalEntry
from connectors.sagepro.models import Payment as SagePayment
from schemas.settlement import SettledTransaction, SettlementBatch
from stream import metrics
from stream.runtime import sink
from stream.runtime.limits import RecordLimits
from stream.settings import WorkerSettings
from tests.unit import flow_fakes

NAME = "settlement_reconciler"
AT = datetime(2024, 7, 5, 9, 0, tzinfo=UTC)
CHART = ("1000", "1010", "1200", "2100")
FAST = RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2)


class FakeSage:
    def __init__(self, accounts: tuple[str, ...] = CHART) -> None:
        self.accounts = accounts
        self.payments: dict[str, Decimal] = {}
        self.entries: dict[str, JournalEntry] = {}
        self.down_for = 0  # this many calls fail as in an outage
        self.duplicates: set[str] = set()  # references the client resolves as already posted

    def _call(self) -> None:
        if self.down_for > 0:
            self.down_for -= 1
            raise Retriable("503 Service Unavailable", system="sagepro", status=503)

    def _payment(self, reference: str) -> SagePayment:
        return SagePayment(
            payment_reference=reference,
            payment_date=AT.date(),
            amount=self.payments[reference],
            customer_id="C-1",
        )

    async def get_gl_accounts(self) -> list[GLAccount]:
        self._call()
        return [GLAccount(gl_account_id=a, name=a, account_type="Asset") for a in self.accounts]

    async def list_payments(self, *, from_date: date, to_date: date) -> list[SagePayment]:
        self._call()
        return [self._payment(reference) for reference in self.payments]

    async def get_payment(self, reference: str) -> SagePayment | None:
        self._call()
        return self._payment(reference) if reference in self.payments else None

    async def post_journal_entry(self, entry: JournalEntry) -> JournalEntry:
        self._call()
        if entry.reference in self.duplicates:
            raise AlreadyDone("duplicate", system="sagepro", code="DUPLICATE_JOURNAL_ENTRY")
        return self.entries.setdefault(entry.reference, entry)


class FakeSalesforce:
    def __init__(self) -> None:
        self.payments: dict[str, Decimal] = {}
        self.settlements: dict[str, dict[str, Any]] = {}
        self.failing: set[str] = set()  # batch numbers whose upsert keeps answering 503

    async def query(self, soql: str) -> list[dict[str, Any]]:
        asked = set(re.findall(r"'([^']*)'", soql))
        return [
            {"PaymentID__c": i, "Amount__c": str(a)} for i, a in self.payments.items() if i in asked
        ]

    async def upsert(self, sobject: str, field: str, value: str, record: dict[str, Any]) -> Any:
        assert (sobject, field) == ("Settlement__c", "BatchNumber__c")
        if value in self.failing:
            raise Retriable("503 Service Unavailable", system="salesforce", status=503)
        self.settlements[value] = record
        return None


def batch(number: int, amounts: dict[str, str], *, net: str | None = None) -> SettlementBatch:
    transactions = [
        SettledTransaction(
            transaction_id=tx, transaction_type="SALE", amount=Decimal(a), created_at=AT
        )
        for tx, a in amounts.items()
    ]
    total = sum((t.amount for t in transactions), Decimal("0"))
    return SettlementBatch(
        batch_number=number,
        settled_at=AT,
        settled_on=AT.date(),
        transaction_count=len(transactions),
        net_amount=Decimal(net) if net is not None else total,
        sales_count=len(transactions),
        sales_amount=total,
        refund_count=0,
        refund_amount=Decimal("0"),
        transactions=transactions,
        fetched_at=AT,
    )


def record(value: SettlementBatch | bytes, offset: int = 0) -> Any:
    key = str(value.batch_number) if isinstance(value, SettlementBatch) else f"bad-{offset}"
    return flow_fakes.incoming(value, key=key, topic="paytrace_settlements", offset=offset)


@pytest.fixture
def sage() -> FakeSage:
    fake = FakeSage()
    fake.payments = {"101": Decimal("50.00"), "102": Decimal("25.00"), "103": Decimal("10.00")}
    return fake


@pytest.fixture
def salesforce() -> FakeSalesforce:
    fake = FakeSalesforce()
    fake.payments = {"101": Decimal("50.00"), "102": Decimal("25.00"), "103": Decimal("10.00")}
    return fake


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "FIRST_PAUSE_SECONDS", 0.01)


def build(
    sage: FakeSage, salesforce: FakeSalesforce, recheck: float = 0, limits: RecordLimits = FAST
) -> Any:
    connectors = flow_fakes.FakeConnectors(salesforce_client=salesforce, sagepro_client=sage)
    worker = WorkerSettings(settlement_recheck_seconds=recheck)
    ctx = flow_fakes.context(connectors, limits=limits, worker=worker)
    return ctx, flow_fakes.flow(NAME, ctx)


def reasons(ctx: Any) -> list[tuple[str | None, str]]:
    return [(letter.key, letter.reason) for letter in flow_fakes.dead_letters(ctx)]


def batches_counted(outcome: str) -> float:
    return metrics.SETTLEMENT_BATCHES.labels(outcome)._value.get()


def delivered_count() -> float:
    return metrics.EVENTS_OUT.labels(NAME)._value.get()


async def test_a_batch_that_matches_posts_one_entry_and_a_reconciled_settlement(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    ctx, flow = build(sage, salesforce)
    before = batches_counted("reconciled")
    await flow.handle([record(batch(7, {"101": "50.00", "102": "25.00"}))])
    entry = sage.entries["PAYTRACE-BATCH-7"]
    assert {(line.gl_account_id, line.debit, line.credit) for line in entry.lines} == {
        ("1000", Decimal("75.00"), Decimal("0")),
        ("1010", Decimal("0"), Decimal("75.00")),
    }
    assert salesforce.settlements["7"]["Status__c"] == "Reconciled"
    assert reasons(ctx) == [] and batches_counted("reconciled") - before == 1


async def test_a_malformed_batch_among_valid_ones_is_parked_and_the_rest_written(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    ctx, flow = build(sage, salesforce)
    before = batches_counted("dead_letter")
    await flow.handle(
        [
            record(batch(7, {"101": "50.00"})),
            record(b'{"batch_number": "x"}', offset=1),
            record(batch(8, {"102": "25.00"}), offset=2),
        ]
    )
    assert set(salesforce.settlements) == {"7", "8"}
    assert set(sage.entries) == {"PAYTRACE-BATCH-7", "PAYTRACE-BATCH-8"}
    assert reasons(ctx) == [("bad-1", "malformed")]
    assert batches_counted("dead_letter") - before == 1


async def test_totals_that_differ_are_written_as_such_and_the_batch_parked(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    ctx, flow = build(sage, salesforce)
    before = batches_counted("dead_letter")
    await flow.handle([record(batch(9, {"101": "50.00"}, net="51.00"))])
    assert salesforce.settlements["9"]["Status__c"] == "Totals Differ"
    assert sage.entries == {}
    assert reasons(ctx) == [("9", "settlement_totals_differ")]
    assert "batch net amount is 51.00" in flow_fakes.dead_letters(ctx)[0].error
    assert batches_counted("dead_letter") - before == 1


async def test_a_transaction_missing_in_salesforce_is_a_mismatch_not_a_dead_letter(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    del salesforce.payments["102"]
    ctx, flow = build(sage, salesforce)
    before = metrics.SETTLEMENT_MISMATCHES.labels("missing_in_salesforce")._value.get()
    await flow.handle([record(batch(7, {"101": "50.00", "102": "25.00"}))])
    assert salesforce.settlements["7"]["Status__c"] == "Mismatch"
    assert "PAYTRACE-BATCH-7" in sage.entries  # the totals add up: the money still moves
    assert reasons(ctx) == []
    after = metrics.SETTLEMENT_MISMATCHES.labels("missing_in_salesforce")._value.get()
    assert after - before == 1


async def test_a_transaction_found_on_the_second_look_is_reconciled(
    sage: FakeSage, salesforce: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = sage.payments.pop("102")
    _, flow = build(sage, salesforce, recheck=0.01)
    compare = flow.compare

    async def arrives_meanwhile(value: SettlementBatch) -> Any:
        report = await compare(value)
        sage.payments["102"] = late  # the sink posts it during the pause
        return report

    monkeypatch.setattr(flow, "compare", arrives_meanwhile)
    await flow.handle([record(batch(7, {"101": "50.00", "102": "25.00"}))])
    assert salesforce.settlements["7"]["Status__c"] == "Reconciled"


async def test_an_entry_to_a_gl_account_not_in_the_chart_is_parked_before_any_write(
    salesforce: FakeSalesforce,
) -> None:
    sage = FakeSage(accounts=("1010", "1200"))  # no bank account 1000
    sage.payments = {"101": Decimal("50.00")}
    ctx, flow = build(sage, salesforce)
    await flow.handle([record(batch(7, {"101": "50.00"}))])
    assert reasons(ctx) == [("7", "unknown_gl_account")]
    assert sage.entries == {} and salesforce.settlements == {}


async def test_an_entry_already_posted_counts_as_delivered(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    sage.duplicates.add("PAYTRACE-BATCH-7")
    ctx, flow = build(sage, salesforce)
    before = delivered_count()
    await flow.handle([record(batch(7, {"101": "50.00"}))])
    assert reasons(ctx) == [] and delivered_count() - before == 1


async def test_a_batch_whose_write_keeps_failing_is_parked_while_others_go_through(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    salesforce.failing.add("7")
    ctx, flow = build(sage, salesforce)
    await flow.handle([record(batch(7, {"101": "50.00"})), record(batch(8, {"102": "25.00"}))])
    assert set(salesforce.settlements) == {"8"}
    assert reasons(ctx) == [("7", "retries_exhausted")]


async def test_an_outage_holds_every_batch_and_writes_them_once_it_ends(
    sage: FakeSage, salesforce: FakeSalesforce
) -> None:
    sage.down_for = 6  # three rounds of both batches' first call
    ctx, flow = build(sage, salesforce)
    await flow.handle([record(batch(7, {"101": "50.00"})), record(batch(8, {"102": "25.00"}))])
    assert reasons(ctx) == [] and sage.down_for == 0
    assert set(salesforce.settlements) == {"7", "8"}
    assert set(sage.entries) == {"PAYTRACE-BATCH-7", "PAYTRACE-BATCH-8"}
