"""The Sage Pro contract over real HTTP: SageProRestClient against the emulator on loopback.

Every endpoint and every error path the pipeline depends on: records, payments (partial, full,
duplicate, on account, overpayment, refund/void), journal entries, credit memos, the chart of
accounts, auth, 5xx and 429 with retries, paging, persistence, and the balance invariant.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.base.emulator import EmulatorServer
from connectors.base.errors import Action
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.errors import SageProError
from connectors.sagepro.models import (
    CreditMemo,
    Customer,
    CustomerUpdate,
    Invoice,
    InvoiceStatus,
    InvoiceUpdate,
    JournalEntry,
    JournalLine,
    Order,
    OrderStatus,
    OrderUpdate,
    Payment,
    PaymentStatus,
)
from stream.mapping import GLRule
from stream.metrics import REGISTRY
from stream.to_sagepro import journal_entry
from tests.integration.sagepro.support import DAY, KEY

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """For emulator controls and bodies the typed client would refuse to build."""
    async with httpx.AsyncClient(base_url=emulator.base_url, headers={"X-Api-Key": KEY}) as http:
        yield http


async def _invoice(sage: SageProRestClient, total: str = "100.00", ref: str = "INV-1") -> Invoice:
    if await sage.get_customer("C1") is None:
        await sage.create_customer(Customer(customer_id="C1", name="Acme", email="ap@acme.test"))
    return await sage.create_invoice(
        Invoice(invoice_id=ref, customer_id="C1", invoice_date=DAY, total_amount=Decimal(total))
    )


def _pay(ref: str, amount: str, invoice: str | None = "INV-1", **extra: Any) -> Payment:
    return Payment(
        payment_reference=ref,
        payment_date=DAY,
        amount=Decimal(amount),
        customer_id="C1",
        invoice_id=invoice,
        **extra,
    )


async def _fails(call: Any) -> SageProError:
    with pytest.raises(SageProError) as caught:
        await call
    return caught.value


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- customers, invoices, orders -----------------------------------------------------------


async def test_customers_create_read_update_list(sage: SageProRestClient) -> None:
    created = await sage.create_customer(
        Customer(customer_id="C1", name="Acme", email="ap@acme.test", paytrace_customer_id="PT9")
    )
    assert created.created_at is not None and created.paytrace_customer_id == "PT9"
    generated = await sage.create_customer(Customer(name="Beta"))
    assert generated.customer_id == "CUST-000002"
    changed = await sage.update_customer("C1", CustomerUpdate(phone="555-0100"))
    assert (changed.phone, changed.email) == ("555-0100", "ap@acme.test")
    assert [c.customer_id for c in await sage.find_customers(email="ap@acme.test")] == ["C1"]
    assert await sage.get_customer("nobody") is None
    again = await sage.create_customer(Customer(customer_id="C1", name="Other name"))
    assert again.name == "Acme"  # duplicate CustomerID: the stored customer, unchanged


async def test_duplicate_customer_body_and_bad_email(raw: httpx.AsyncClient) -> None:
    assert (await raw.post("/api/customers", json={"CustomerID": "C1", "Name": "A"})).is_success
    response = await raw.post("/api/customers", json={"CustomerID": "C1", "Name": "B"})
    body = response.json()
    assert response.status_code == 409 and body["error"]["code"] == "DUPLICATE_CUSTOMER"
    assert body["existing"]["Name"] == "A"
    bad = await raw.post("/api/customers", json={"Name": "", "Email": "nope"})
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert bad.status_code == 422 and fields == {"Name", "Email"}
    missing = await raw.put("/api/customers/ghost", json={"Name": "x"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "CUSTOMER_NOT_FOUND"


async def test_invoices_create_read_update_list(sage: SageProRestClient) -> None:
    invoice = await _invoice(sage)
    assert (invoice.status, invoice.balance_due) == (InvoiceStatus.OPEN, Decimal("100.00"))
    await sage.create_invoice(
        Invoice(customer_id="C1", invoice_date=date(2024, 6, 1), total_amount=Decimal("5"))
    )
    changed = await sage.update_invoice("INV-1", InvoiceUpdate(total_amount=Decimal("120.00")))
    assert changed.balance_due == Decimal("120.00")
    assert [i.invoice_id for i in await sage.list_invoices(customer_id="C1")] == [
        "INV-000002",
        "INV-1",
    ]
    assert await sage.get_invoice("INV-404") is None
    assert (await _invoice(sage, "1.00")).total_amount == Decimal("120.00")  # idempotent

    await sage.post_payment(_pay("T1", "50.00"))
    error = await _fails(sage.update_invoice("INV-1", InvoiceUpdate(total_amount=Decimal("49"))))
    assert (error.code, error.action) == ("TOTAL_BELOW_APPLIED", Action.DEAD_LETTER)
    partially = await sage.list_invoices(status=InvoiceStatus.PARTIALLY_PAID)
    assert [i.invoice_id for i in partially] == ["INV-1"]


async def test_invoice_for_unknown_customer_is_dead_letter(sage: SageProRestClient) -> None:
    error = await _fails(
        sage.create_invoice(
            Invoice(customer_id="ghost", invoice_date=DAY, total_amount=Decimal("1"))
        )
    )
    assert (error.status, error.code, error.action) == (
        404,
        "CUSTOMER_NOT_FOUND",
        Action.DEAD_LETTER,
    )


async def test_orders_create_read_update_list(sage: SageProRestClient) -> None:
    await sage.create_customer(Customer(customer_id="C1", name="Acme"))
    order = await sage.create_order(
        Order(order_number="SO-1", customer_id="C1", order_date=DAY, total_amount=Decimal("9.99"))
    )
    assert order.status is OrderStatus.OPEN
    updated = await sage.update_order(
        "SO-1",
        OrderUpdate(payment_status=PaymentStatus.PAID, payment_reference="T1", status="Paid"),
    )
    assert (updated.status, updated.payment_status) == (OrderStatus.PAID, PaymentStatus.PAID)
    assert (await sage.get_order("SO-1")) == updated
    assert [o.order_number for o in await sage.list_orders(status=OrderStatus.PAID)] == ["SO-1"]
    assert await sage.list_orders(customer_id="other") == []
    assert await sage.get_order("SO-404") is None
    error = await _fails(sage.update_order("SO-1", OrderUpdate(invoice_id="INV-404")))
    assert error.code == "INVOICE_NOT_FOUND"


# --- payments ----------------------------------------------------------------------------


async def test_payments_move_invoice_open_partial_paid(sage: SageProRestClient) -> None:
    await _invoice(sage)
    first = await sage.post_payment(_pay("T1", "40.00"))
    assert (first.applied_amount, first.unapplied_amount) == (Decimal("40.00"), Decimal("0.00"))
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.status is InvoiceStatus.PARTIALLY_PAID
    await sage.post_payment(_pay("T2", "60.00", payment_method_code="ACH"))
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None
    assert (invoice.status, invoice.balance_due, invoice.amount_paid) == (
        InvoiceStatus.PAID,
        Decimal("0.00"),
        Decimal("100.00"),
    )
    assert (await sage.get_payment("T2")) is not None
    assert await sage.get_payment("T404") is None
    listed = await sage.list_payments(invoice_id="INV-1", from_date=DAY, to_date=DAY)
    assert [p.payment_reference for p in listed] == ["T1", "T2"]


async def test_duplicate_payment_returns_the_existing_one(
    sage: SageProRestClient, raw: httpx.AsyncClient
) -> None:
    await _invoice(sage)
    first = await sage.post_payment(_pay("T1", "40.00", memo="first"))
    again = await sage.post_payment(_pay("T1", "40.00", memo="retry"))
    assert again == first and again.memo == "first"
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.amount_paid == Decimal("40.00")  # applied once
    response = await raw.post("/api/payments", json=_pay("T1", "40.00").wire())
    body = response.json()
    assert response.status_code == 409 and body["error"]["code"] == "DUPLICATE_PAYMENT"
    assert body["existing"]["PaymentReference"] == "T1" and body["existing"]["Memo"] == "first"


async def test_concurrent_duplicate_posts_apply_once(
    sage: SageProRestClient, caplog: pytest.LogCaptureFixture
) -> None:
    await _invoice(sage)
    results = await asyncio.gather(*(sage.post_payment(_pay("T1", "30.00")) for _ in range(5)))
    assert all(result == results[0] for result in results)
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.amount_paid == Decimal("30.00")
    reused = await sage.post_payment(_pay("T1", "31.00"))  # same reference, other amount
    assert reused.amount == Decimal("30.00")
    assert "already stored with amount 30.00" in caplog.text


async def test_invoice_not_found_then_posted_on_account(sage: SageProRestClient) -> None:
    await _invoice(sage)
    error = await _fails(sage.post_payment(_pay("T1", "25.00", invoice="INV-404")))
    assert (error.status, error.code, error.action) == (
        404,
        "INVOICE_NOT_FOUND",
        Action.DEAD_LETTER,
    )
    assert error.fields == ("InvoiceID",)
    parked = await sage.post_payment(
        _pay("T1", "25.00", invoice=None, on_account=True, needs_review=True)
    )
    assert parked.payment_status is PaymentStatus.ON_ACCOUNT
    assert (parked.applied_amount, parked.unapplied_amount) == (Decimal("0.00"), Decimal("25.00"))
    review = await sage.list_payments(needs_review=True, status=PaymentStatus.ON_ACCOUNT)
    assert [p.payment_reference for p in review] == ["T1"]


async def test_overpayment_rejected_unless_on_account(sage: SageProRestClient) -> None:
    await _invoice(sage)
    error = await _fails(sage.post_payment(_pay("T1", "100.01")))
    assert (error.status, error.code, error.action) == (422, "OVERPAYMENT", Action.DEAD_LETTER)
    assert error.fields == ("Amount",)
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.balance_due == Decimal("100.00")
    split = await sage.post_payment(_pay("T1", "130.00", on_account=True))
    assert (split.applied_amount, split.unapplied_amount) == (Decimal("100.00"), Decimal("30.00"))
    error = await _fails(sage.post_payment(_pay("T2", "0.01")))  # the invoice is now paid
    assert error.code == "OVERPAYMENT"


async def test_validation_errors_are_dead_letters(
    sage: SageProRestClient, raw: httpx.AsyncClient
) -> None:
    await _invoice(sage)
    error = await _fails(sage.post_payment(_pay("T1", "0.00")))
    assert (error.status, error.code, error.action) == (422, "VALIDATION_ERROR", Action.DEAD_LETTER)
    assert error.fields == ("Amount",)
    error = await _fails(sage.post_payment(_pay("T1", "5.00", invoice=None)))
    assert error.fields == ("InvoiceID",)
    error = await _fails(sage.post_payment(_pay("T1", "5.00", gl_account_id="7777")))
    assert (error.code, error.fields) == ("UNKNOWN_GL_ACCOUNT", ("GLAccountID",))
    body = {**_pay("T1", "5.00").wire(), "PaymentDate": "05/01/2024", "Amount": "1.005"}
    response = await raw.post("/api/payments", json=body)
    details = {d["field"]: d["issue"] for d in response.json()["error"]["details"]}
    assert response.status_code == 422 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "YYYY-MM-DD" in details["PaymentDate"] and "two decimal" in details["Amount"]
    response = await raw.post("/api/payments", json={**body, "PaymentDate": "2024-02-30"})
    assert response.status_code == 422
    for amount in (10**40, "1e40", 10**9, "NaN", True):
        response = await raw.post(
            "/api/payments", json={**body, "PaymentDate": "2024-05-01", "Amount": amount}
        )
        assert response.status_code == 422, amount
        assert response.json()["error"]["details"][0]["field"] == "Amount"
    assert await sage.list_payments() == []


async def test_money_as_json_number_is_exact(
    raw: httpx.AsyncClient, sage: SageProRestClient
) -> None:
    await _invoice(sage)
    text = (
        b'{"PaymentReference":"T1","PaymentDate":"2024-05-01","Amount":19.99,'
        b'"CustomerID":"C1","InvoiceID":"INV-1"}'
    )
    response = await raw.post(
        "/api/payments", content=text, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201 and response.json()["Amount"] == "19.99"
    invoice = (await raw.get("/api/invoices/INV-1")).json()
    assert invoice["BalanceDue"] == "80.01"


async def test_refund_is_a_negative_payment_and_credit_memo_closes(sage: SageProRestClient) -> None:
    await _invoice(sage)
    await sage.post_payment(_pay("T1", "100.00"))
    refund = await sage.post_payment(
        _pay(
            "R1",
            "-30.00",
            invoice=None,
            payment_status=PaymentStatus.REFUNDED,
            original_payment_reference="T1",
        )
    )
    assert (refund.invoice_id, refund.applied_amount) == ("INV-1", Decimal("-30.00"))
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and (invoice.balance_due, invoice.status) == (
        Decimal("30.00"),
        InvoiceStatus.PARTIALLY_PAID,
    )
    memo = await sage.post_credit_memo(
        CreditMemo(reference="CM-R1", invoice_id="INV-1", memo_date=DAY, amount=Decimal("30"))
    )
    assert memo.customer_id == "C1" and memo.credit_memo_id == "CM-000001"
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and (invoice.balance_due, invoice.status) == (
        Decimal("0.00"),
        InvoiceStatus.PAID,
    )
    error = await _fails(
        sage.post_payment(
            _pay(
                "R2",
                "-70.01",
                payment_status=PaymentStatus.REFUNDED,
                original_payment_reference="T1",
            )
        )
    )
    assert (error.code, error.action) == ("REFUND_EXCEEDS_PAYMENT", Action.DEAD_LETTER)
    error = await _fails(
        sage.post_payment(
            _pay(
                "V1", "-10.00", payment_status=PaymentStatus.VOIDED, original_payment_reference="T1"
            )
        )
    )
    assert error.code == "VALIDATION_ERROR"
    error = await _fails(
        sage.post_payment(
            _pay(
                "R3",
                "-1.00",
                payment_status=PaymentStatus.REFUNDED,
                original_payment_reference="T404",
            )
        )
    )
    assert (error.status, error.code) == (404, "PAYMENT_NOT_FOUND")
    refunds = await sage.list_payments(status=PaymentStatus.REFUNDED)
    assert [p.payment_reference for p in refunds] == ["R1"]


async def test_failed_payment_is_recorded_and_moves_nothing(sage: SageProRestClient) -> None:
    await _invoice(sage)
    failed = await sage.post_payment(_pay("T1", "100.00", payment_status=PaymentStatus.FAILED))
    assert failed.applied_amount == Decimal("0.00")
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.status is InvoiceStatus.OPEN


# --- journal entries, credit memos, chart of accounts --------------------------------------


def _entry(reference: str, *lines: tuple[str, str, str]) -> JournalEntry:
    return JournalEntry(
        reference=reference,
        entry_date=DAY,
        lines=[
            JournalLine(gl_account_id=account, debit=Decimal(debit), credit=Decimal(credit))
            for account, debit, credit in lines
        ],
    )


async def test_journal_entries_post_idempotent_and_list(sage: SageProRestClient) -> None:
    entry = await sage.post_journal_entry(
        _entry("T1", ("1010", "97.05", "0"), ("6150", "2.95", "0"), ("1200", "0", "100.00"))
    )
    assert entry.journal_entry_id == "JE-000001" and len(entry.lines) == 3
    again = await sage.post_journal_entry(_entry("T1", ("1000", "1", "0"), ("1200", "0", "1")))
    assert again == entry  # duplicate Reference: the stored entry, not the new lines
    await sage.post_journal_entry(_entry("T2", ("1000", "5", "0"), ("4000", "0", "5")))
    assert [e.reference for e in await sage.list_journal_entries()] == ["T1", "T2"]
    assert [e.reference for e in await sage.list_journal_entries(reference="T2")] == ["T2"]
    assert await sage.list_journal_entries(from_date=date(2024, 5, 2)) == []
    assert await sage.get_journal_entry("T1") == entry
    assert await sage.get_journal_entry("T404") is None


async def test_unbalanced_or_unknown_journal_entries_rejected(sage: SageProRestClient) -> None:
    error = await _fails(
        sage.post_journal_entry(_entry("J1", ("1010", "100.00", "0"), ("1200", "0", "99.99")))
    )
    assert (error.status, error.code, error.action) == (422, "UNBALANCED_ENTRY", Action.DEAD_LETTER)
    error = await _fails(
        sage.post_journal_entry(_entry("J1", ("1010", "1", "0"), ("8888", "0", "1")))
    )
    assert (error.code, error.fields) == ("UNKNOWN_GL_ACCOUNT", ("Lines[1].GLAccountID",))
    error = await _fails(sage.post_journal_entry(_entry("J1", ("1010", "1", "0"))))
    assert (error.code, error.fields) == ("VALIDATION_ERROR", ("Lines",))
    error = await _fails(
        sage.post_journal_entry(_entry("J1", ("1010", "1", "1"), ("1200", "0", "0")))
    )
    assert error.code == "VALIDATION_ERROR"
    assert await sage.list_journal_entries() == []


async def test_credit_memos_reduce_balance_and_are_bounded(sage: SageProRestClient) -> None:
    await _invoice(sage)
    await sage.post_payment(_pay("T1", "60.00"))
    memo = CreditMemo(reference="CM1", invoice_id="INV-1", memo_date=DAY, amount=Decimal("15"))
    stored = await sage.post_credit_memo(memo)
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None
    assert (invoice.amount_credited, invoice.balance_due) == (Decimal("15.00"), Decimal("25.00"))
    assert await sage.post_credit_memo(memo.model_copy(update={"amount": Decimal(1)})) == stored
    over = memo.model_copy(update={"reference": "CM2", "amount": Decimal("25.01")})
    error = await _fails(sage.post_credit_memo(over))
    assert (error.code, error.action) == ("CREDIT_EXCEEDS_BALANCE", Action.DEAD_LETTER)
    missing = memo.model_copy(update={"reference": "CM3", "invoice_id": "INV-404"})
    assert (await _fails(sage.post_credit_memo(missing))).code == "INVOICE_NOT_FOUND"
    other = memo.model_copy(update={"reference": "CM4", "customer_id": "C2"})
    assert (await _fails(sage.post_credit_memo(other))).code == "INVOICE_CUSTOMER_MISMATCH"
    assert [m.reference for m in await sage.list_credit_memos(invoice_id="INV-1")] == ["CM1"]
    assert await sage.get_credit_memo("CM1") == stored
    assert await sage.get_credit_memo("CM404") is None


async def test_chart_of_accounts(sage: SageProRestClient, raw: httpx.AsyncClient) -> None:
    accounts = {a.gl_account_id: a for a in await sage.get_gl_accounts()}
    assert {"1000", "1010", "1200", "1210", "2100", "4000", "4900", "6150"} <= set(accounts)
    assert accounts["1200"].name == "Accounts Receivable" and accounts["6150"].active
    one = await raw.get("/api/glaccounts/2100")
    assert one.json()["AccountType"] == "Liability"
    assert (await raw.get("/api/glaccounts/0000")).json()["error"]["code"] == "GL_ACCOUNT_NOT_FOUND"


async def test_payment_and_refund_postings_balance_the_ledger(sage: SageProRestClient) -> None:
    """The documented order: payment, its entry; refund, its entry; credit memo, its entry."""
    await _invoice(sage)
    await sage.post_journal_entry(_entry("INV-1", ("1200", "100", "0"), ("4000", "0", "100")))
    payment = await sage.post_payment(_pay("T1", "120.00", on_account=True))
    sale, refund_rule = GLRule(debit="1010", credit="1200"), GLRule(debit="1200", credit="1010")
    for step in (payment, await sage.post_payment(payment)):  # a replay changes nothing
        await sage.post_journal_entry(journal_entry(step, sale, "2100"))
    refund = await sage.post_payment(
        _pay("R1", "-50.00", payment_status=PaymentStatus.REFUNDED, original_payment_reference="T1")
    )
    await sage.post_journal_entry(journal_entry(refund, refund_rule, "2100"))
    memo = await sage.post_credit_memo(
        CreditMemo(reference="CM-R1", invoice_id="INV-1", memo_date=DAY, amount=Decimal("30"))
    )
    # Dr Sales Returns / Cr AR: the sale is reversed, the invoice owes less.
    amount = str(memo.amount)
    await sage.post_journal_entry(
        _entry(memo.reference, ("4900", amount, "0"), ("1200", "0", amount))
    )

    net: dict[str, Decimal] = {}
    for entry in await sage.list_journal_entries():
        for line in entry.lines:
            net[line.gl_account_id] = (
                net.get(line.gl_account_id, Decimal(0)) + line.debit - line.credit
            )
    invoice = await sage.get_invoice("INV-1")
    assert invoice is not None and invoice.balance_due == Decimal("0.00")
    # Cash kept 70; AR settled; the 20 overpayment went back; 30 of the sale reversed.
    assert net == {
        "1010": Decimal("70.00"),
        "1200": Decimal("0.00"),
        "2100": Decimal("0.00"),
        "4000": Decimal("-100.00"),
        "4900": Decimal("30.00"),
    }
