"""The Sage Pro payment sink on fake clients, no broker: payments in, postings and dead
letters out, whatever a record carries and whichever side fails."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.base.errors import AlreadyDone, Retriable
from connectors.paytrace.models import ExportedTransaction
from connectors.sagepro.models import Customer, GLAccount, Invoice, JournalEntry
from connectors.sagepro.models import Payment as SagePayment
from schemas.payment import Payment, PaymentStatus, PaymentType, References
from stream import metrics
from stream.replay_headers import SINK_HEADER
from stream.runtime import sink
from stream.runtime.limits import RecordLimits
from tests.unit import flow_fakes

NAME = "sagepro_payment_sink"
ZONE = "America/Los_Angeles"
CHART = ("1000", "1010", "1200", "1210", "2100")


class FakeSage:
    """Sage Pro as the sink uses it: idempotent posts by reference, calls recorded."""

    def __init__(self, accounts: tuple[str, ...] = CHART) -> None:
        self.accounts = accounts
        self.customers: dict[str, Customer] = {}
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, SagePayment] = {}
        self.entries: dict[str, JournalEntry] = {}
        self.posted: list[str] = []  # payment references, in the order posted
        self.down_for = 0  # this many calls fail as in an outage
        self.already_done: set[str] = set()  # references the client resolves as duplicates
        self.customer_lookups = 0
        self.invoice_lookups = 0
        self.batch_lookups: list[tuple[str, int]] = []

    def _call(self) -> None:
        if self.down_for > 0:
            self.down_for -= 1
            raise Retriable("503 Service Unavailable", system="sagepro", status=503)

    async def get_gl_accounts(self) -> list[GLAccount]:
        self._call()
        return [GLAccount(gl_account_id=a, name=a, account_type="Asset") for a in self.accounts]

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        self._call()
        self.invoice_lookups += 1
        return self.invoices.get(invoice_id)

    async def get_customer(self, customer_id: str) -> Customer | None:
        self._call()
        self.customer_lookups += 1
        return self.customers.get(customer_id)

    async def customers_by_id(self, ids: Collection[str]) -> dict[str, Customer]:
        self._call()
        self.batch_lookups.append(("customers", len(ids)))
        return {i: self.customers[i] for i in ids if i in self.customers}

    async def invoices_by_id(self, ids: Collection[str]) -> dict[str, Invoice]:
        self._call()
        self.batch_lookups.append(("invoices", len(ids)))
        return {i: self.invoices[i] for i in ids if i in self.invoices}

    async def create_customer(self, customer: Customer) -> Customer:
        self._call()
        assert customer.customer_id is not None
        return self.customers.setdefault(customer.customer_id, customer)

    async def get_payment(self, reference: str) -> SagePayment | None:
        self._call()
        return self.payments.get(reference)

    async def post_payment(self, payment: SagePayment) -> SagePayment:
        self._call()
        if payment.payment_reference in self.already_done:
            raise AlreadyDone("duplicate", system="sagepro", code="DUPLICATE_PAYMENT")
        stored = payment.model_copy(
            update={"applied_amount": Decimal("0"), "unapplied_amount": payment.amount}
        )
        if payment.payment_reference not in self.payments:
            self.posted.append(payment.payment_reference)
        return self.payments.setdefault(payment.payment_reference, stored)

    async def post_journal_entry(self, entry: JournalEntry) -> JournalEntry:
        self._call()
        return self.entries.setdefault(entry.reference, entry)


class FakePayTrace:
    def __init__(self, records: dict[str, ExportedTransaction] | None = None) -> None:
        self.records = records or {}
        self.asked: list[str] = []
        self.failing: set[str] = set()  # ids whose lookup answers 5xx

    async def export_by_id(self, transaction_id: int | str) -> ExportedTransaction | None:
        text = str(transaction_id)
        self.asked.append(text)
        if text in self.failing:
            raise Retriable("502 Bad Gateway", system="paytrace", status=502)
        return self.records.get(text)


def exported(transaction_id: int, amount: str = "50.00") -> ExportedTransaction:
    return ExportedTransaction.model_validate(
        {
            "transaction_id": transaction_id,
            "transaction_type": "SALE",
            "status": "APPROVED",
            "amount": amount,
            "credit_card": {"masked_number": "************1111"},
            "created": {"at": "7/4/2024 9:15:00 AM"},
        },
        context={"tz": ZoneInfo(ZONE)},
    )


def payment(tx: str, *, original: str | None = None, **changes: Any) -> Payment:
    refund = original is not None
    fields: dict[str, Any] = {
        "transaction_id": tx,
        "type": PaymentType.REFUND if refund else PaymentType.SALE,
        "status": PaymentStatus.REFUNDED if refund else PaymentStatus.APPROVED,
        "amount": Decimal("50.00"),
        "currency": "USD",
        "occurred_at": datetime(2024, 7, 4, 16, 15, tzinfo=UTC),
        "original_transaction_id": original,
        **changes,
    }
    return Payment(**fields)


def record(value: Payment | bytes, offset: int = 0, **kwargs: Any) -> Any:
    key = value.transaction_id if isinstance(value, Payment) else f"bad-{offset}"
    return flow_fakes.incoming(value, key=key, topic="payments", offset=offset, **kwargs)


def invoice(invoice_id: str, customer_id: str, total: str) -> Invoice:
    return Invoice(
        invoice_id=invoice_id,
        customer_id=customer_id,
        invoice_date=datetime(2024, 7, 1).date(),
        total_amount=Decimal(total),
    )


@pytest.fixture
def sage() -> FakeSage:
    return FakeSage()


@pytest.fixture
def paytrace() -> FakePayTrace:
    return FakePayTrace()


def build(sage: FakeSage, paytrace: FakePayTrace, limits: RecordLimits | None = None) -> Any:
    connectors = flow_fakes.FakeConnectors(
        paytrace_client=paytrace,
        sagepro_client=sage,
        paytrace_settings=SimpleNamespace(zone=ZoneInfo(ZONE)),
    )
    ctx = flow_fakes.context(connectors, limits=limits)
    return ctx, flow_fakes.flow(NAME, ctx)


def reasons(ctx: Any) -> list[tuple[str | None, str]]:
    return [(letter.key, letter.reason) for letter in flow_fakes.dead_letters(ctx)]


def delivered_count() -> float:
    return metrics.EVENTS_OUT.labels(NAME)._value.get()


async def test_a_malformed_record_among_valid_ones_is_parked_and_the_rest_posted(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    ctx, flow = build(sage, paytrace)
    await flow.handle(
        [record(payment("101")), record(b'{"transaction_id": ', offset=1), record(payment("102"))]
    )
    assert sage.posted == ["101", "102"]
    assert set(sage.entries) == {"101", "102"}
    assert reasons(ctx) == [("bad-1", "malformed")]
    assert "PAYTRACE-UNMATCHED" in sage.customers  # no customer on file: the fallback


async def test_a_payment_replayed_for_salesforce_only_is_not_posted(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    ctx, flow = build(sage, paytrace)
    await flow.handle([record(payment("101"), headers=((SINK_HEADER, b"salesforce"),))])
    assert sage.posted == [] and reasons(ctx) == []


async def test_an_invoice_payment_posts_to_the_invoice_customer(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    sage.invoices["INV-1"] = invoice("INV-1", "C-7", "50.00")
    _, flow = build(sage, paytrace)
    await flow.handle([record(payment("101", references=References(erp_invoice_id="INV-1")))])
    assert sage.payments["101"].customer_id == "C-7"
    assert sage.payments["101"].invoice_id == "INV-1"


async def test_a_returning_customer_is_looked_up_once(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    sage.customers["C-9"] = Customer(customer_id="C-9", name="Returning")
    _, flow = build(sage, paytrace)
    on_file = References(erp_customer_id="C-9")
    await flow.handle([record(payment(str(n), references=on_file)) for n in range(101, 106)])
    assert [sage.payments[str(n)].customer_id for n in range(101, 106)] == ["C-9"] * 5
    # Sage Pro keeps its customers: one look-up for the batch, none per payment.
    assert sage.batch_lookups == [("customers", 1)] and sage.customer_lookups == 0


async def test_a_batch_asks_once_which_invoices_and_customers_exist(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    sage.customers["C-1"] = Customer(customer_id="C-1", name="On file")
    sage.invoices["INV-2"] = invoice("INV-2", "C-1", "500.00")
    _, flow = build(sage, paytrace)
    refs = [References(erp_invoice_id=f"INV-{n}", erp_customer_id=f"C-{n}") for n in range(1, 6)]
    await flow.handle([record(payment(str(100 + n), references=refs[n])) for n in range(5)])
    assert sorted(sage.batch_lookups) == [("customers", 5), ("invoices", 5)]
    # No GET per payment; the one customer GET is the fallback's, once per flow.
    assert (sage.invoice_lookups, sage.customer_lookups) == (0, 1)
    assert sage.payments["101"].invoice_id == "INV-2"  # found: applied to it
    assert sage.payments["100"].customer_id == "C-1" and sage.payments["100"].invoice_id is None
    assert sage.payments["102"].customer_id == "PAYTRACE-UNMATCHED"  # C-3 is not on file
    assert sage.payments["102"].needs_review  # its invoice was not found


async def test_an_id_that_reads_as_a_card_number_is_never_asked_for(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    asked: list[str] = []
    lookups = (sage.customers_by_id, sage.invoices_by_id, sage.get_customer, sage.get_invoice)

    def spying(call: Any) -> Any:
        async def spy(ids: Any) -> Any:
            asked.extend([ids] if isinstance(ids, str) else ids)
            return await call(ids)

        return spy

    for call in lookups:
        setattr(sage, call.__name__, spying(call))
    _, flow = build(sage, paytrace)
    typed = References(
        erp_invoice_id="card 4111 1111 1111 1111", erp_customer_id="4111111111111111"
    )
    await flow.handle([record(payment("101", references=typed))])
    assert not any("4111" in text for text in asked)
    assert sage.payments["101"].customer_id == "PAYTRACE-UNMATCHED"
    assert sage.payments["101"].needs_review and "4111 1111" not in (
        sage.payments["101"].memo or ""
    )


async def test_what_a_batch_found_missing_is_asked_again_in_the_next(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    _, flow = build(sage, paytrace)
    late = References(erp_invoice_id="INV-9")
    await flow.handle([record(payment("101", references=late))])
    sage.invoices["INV-9"] = invoice("INV-9", "C-7", "50.00")
    await flow.handle([record(payment("102", references=late), offset=1)])
    assert sage.payments["101"].invoice_id is None
    assert sage.payments["102"].invoice_id == "INV-9"  # created since: no stale "missing"


async def test_a_failed_batch_look_up_falls_back_to_one_per_payment(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    sage.down_for = 1  # the batch look-up only
    ctx, flow = build(sage, paytrace)
    refs = References(erp_invoice_id="INV-1")
    await flow.handle([record(payment("101", references=refs))])
    assert sage.posted == ["101"] and reasons(ctx) == []
    assert sage.invoice_lookups == 1


@pytest.mark.parametrize("original", ["abc", "", "  ", "../x", "1" * 20, "12 34", "١٢٣"])
async def test_a_refund_naming_no_real_original_is_parked_before_any_call(
    sage: FakeSage, paytrace: FakePayTrace, original: str
) -> None:
    ctx, flow = build(sage, paytrace)
    # Written by some other producer: the Payment schema itself refuses such an original id
    # (PayTrace ids are 1-18 digits), so it is parked at the door as malformed.
    forged = payment("201", original="1").model_copy(update={"original_transaction_id": original})
    await flow.handle([record(forged), record(payment("101"))])
    assert reasons(ctx) == [("201", "malformed")]
    assert sage.posted == ["101"] and paytrace.asked == []


async def test_a_refund_posts_its_original_sale_first_fetched_from_paytrace(
    sage: FakeSage,
) -> None:
    paytrace = FakePayTrace({"101": exported(101)})
    ctx, flow = build(sage, paytrace)
    await flow.handle([record(payment("201", original="101"))])
    assert sage.posted == ["101", "201"]
    assert sage.payments["201"].original_payment_reference == "101"
    assert reasons(ctx) == []
    # The sale's own event later finds it there, and the refund replayed finds its original.
    await flow.handle([record(payment("101")), record(payment("201", original="101"))])
    assert paytrace.asked == ["101"]


async def test_a_refund_whose_original_paytrace_does_not_know_is_parked(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    ctx, flow = build(sage, paytrace)
    await flow.handle([record(payment("201", original="999"))])
    assert reasons(ctx) == [("201", "paytrace:ORIGINAL_NOT_FOUND")]
    assert sage.posted == []


async def test_a_posting_to_a_gl_account_not_in_the_chart_is_parked_whole(
    paytrace: FakePayTrace,
) -> None:
    sage = FakeSage(accounts=("1010", "2100"))  # no 1200: the sale's credit account
    ctx, flow = build(sage, paytrace)
    await flow.handle([record(payment("101"))])
    assert reasons(ctx) == [("101", "unknown_gl_account")]
    assert sage.posted == [] and sage.entries == {}


async def test_a_payment_already_posted_counts_as_delivered(
    sage: FakeSage, paytrace: FakePayTrace
) -> None:
    sage.already_done.add("101")
    ctx, flow = build(sage, paytrace)
    before = delivered_count()
    await flow.handle([record(payment("101")), record(payment("102"))])
    assert reasons(ctx) == []
    assert delivered_count() - before == 2


async def test_a_refund_whose_original_keeps_failing_is_parked_while_others_go_through(
    sage: FakeSage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink, "FIRST_PAUSE_SECONDS", 0.01)
    paytrace = FakePayTrace()
    paytrace.failing.add("101")
    limits = RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2)
    ctx, flow = build(sage, paytrace, limits)
    await flow.handle([record(payment("201", original="101")), record(payment("102"))])
    assert sage.posted == ["102"]
    assert reasons(ctx) == [("201", "retries_exhausted")]
    assert len(paytrace.asked) >= 2


async def test_an_outage_holds_every_record_and_delivers_them_once_it_ends(
    sage: FakeSage, paytrace: FakePayTrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink, "FIRST_PAUSE_SECONDS", 0.01)
    sage.down_for = 6  # three rounds of both records' first call
    limits = RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2)
    ctx, flow = build(sage, paytrace, limits)
    await flow.handle([record(payment("101")), record(payment("102"))])
    assert reasons(ctx) == []
    assert sorted(sage.posted) == ["101", "102"] and sage.down_for == 0


async def test_a_later_state_of_a_key_waits_for_the_earlier_one(
    sage: FakeSage, paytrace: FakePayTrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink, "FIRST_PAUSE_SECONDS", 0.01)
    sage.down_for = 1  # the first state's first call
    ctx, flow = build(sage, paytrace)
    voided = payment("101", status=PaymentStatus.VOIDED)
    await flow.handle([record(payment("101")), record(voided, offset=1)])
    assert sage.posted == ["101", "101-VOID"] and reasons(ctx) == []
