"""Canonical payment -> Sage Pro postings, and the journal entries they call for."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from connectors.sagepro.models import JournalEntry
from connectors.sagepro.models import Payment as SagePayment
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import Payment, PaymentStatus, PaymentType, References
from stream.mapping import DEFAULT_MAPPING, GLRule, Mapping, load_mapping
from stream.runtime.outcomes import Rejected
from stream.to_sagepro import VOID_SUFFIX, Posting, journal_entry, plan

MAPPING = load_mapping()
GL = MAPPING.sagepro.gl_accounts
UNAPPLIED = GL["on_account"].credit  # what the Sage Pro sink passes as the unapplied account
CUSTOMER = "C-100"
CENT = Decimal("0.01")


def payment(**changes: Any) -> Payment:
    fields: dict[str, Any] = {
        "transaction_id": "1000123",
        "type": PaymentType.SALE,
        "status": PaymentStatus.APPROVED,
        "amount": Decimal("110.00"),
        "currency": "USD",
        "occurred_at": datetime(2024, 7, 4, 16, 15, tzinfo=UTC),
        "references": References(erp_invoice_id="INV-1"),
    }
    fields.update(changes)
    return Payment(**fields)


def plan_for(p: Payment, invoice_id: str | None = "INV-1") -> list[Posting]:
    return plan(p, MAPPING, customer_id=CUSTOMER, invoice_id=invoice_id)


def test_default_gl_accounts() -> None:
    assert GL["sale"] == GLRule(debit="1010", credit="1200")
    assert GL["refund"] == GLRule(debit="1200", credit="1010")
    assert UNAPPLIED == "2100"


def test_approved_sale_with_its_invoice_found() -> None:
    [posting] = plan_for(payment())
    sage = posting.payment
    assert sage.payment_reference == "1000123"
    assert sage.payment_date == date(2024, 7, 4)
    assert sage.amount == Decimal("110.00")
    assert sage.customer_id == CUSTOMER
    assert sage.invoice_id == "INV-1"
    assert sage.payment_status is SageStatus.PAID
    assert sage.gl_account_id == "1010"
    assert sage.payment_method_code == "CC"
    assert sage.on_account  # an overpayment is kept, not refused
    assert not sage.needs_review
    assert sage.original_payment_reference is None
    assert sage.memo == "PayTrace sale 1000123"
    assert posting.rule == GL["sale"]
    assert posting.accounts(UNAPPLIED) == {"1010", "1200", "2100"}


def test_approved_sale_whose_invoice_is_missing_goes_on_account_for_review() -> None:
    [posting] = plan_for(payment(), invoice_id=None)
    sage = posting.payment
    assert sage.invoice_id is None and sage.on_account
    assert sage.needs_review
    assert sage.payment_status is SageStatus.PAID
    assert "invoice INV-1 not found" in (sage.memo or "")
    assert posting.rule == GL["sale"]


def test_sale_naming_no_invoice_goes_on_account_without_review() -> None:
    [posting] = plan_for(payment(references=References()), invoice_id=None)
    assert posting.payment.on_account and posting.payment.invoice_id is None
    assert not posting.payment.needs_review


@pytest.mark.parametrize("status", [PaymentStatus.CAPTURED, PaymentStatus.SETTLED])
def test_captured_and_settled_are_paid(status: PaymentStatus) -> None:
    kind = PaymentType.AUTHORIZATION if status is PaymentStatus.CAPTURED else PaymentType.SALE
    [posting] = plan_for(payment(type=kind, status=status))
    assert posting.payment.payment_status is SageStatus.PAID
    assert posting.payment.amount == Decimal("110.00")
    assert posting.rule == GL["sale"]  # no rule for authorizations: the sale's


def test_capture_type_uses_its_own_rule() -> None:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_MAPPING.read_text())
    data["sagepro"]["gl_accounts"]["capture"] = {"debit": "1020", "credit": "1200"}
    mapping = Mapping.model_validate(data)
    [posting] = plan(
        payment(type=PaymentType.CAPTURE), mapping, customer_id=CUSTOMER, invoice_id="INV-1"
    )
    assert posting.rule == GLRule(debit="1020", credit="1200")
    assert posting.payment.gl_account_id == "1020"


@pytest.mark.parametrize("status", [PaymentStatus.DECLINED, PaymentStatus.FAILED])
def test_declines_are_recorded_as_failed_without_a_journal_entry(status: PaymentStatus) -> None:
    [posting] = plan_for(payment(status=status))
    assert posting.payment.payment_status is SageStatus.FAILED
    assert posting.payment.amount == Decimal("110.00")
    assert posting.rule is None
    assert posting.accounts(UNAPPLIED) == set()


def test_refund_is_a_negative_payment_naming_its_sale() -> None:
    refund = payment(
        transaction_id="1000200",
        type=PaymentType.REFUND,
        status=PaymentStatus.REFUNDED,
        amount=Decimal("25.50"),
        original_transaction_id="1000123",
    )
    [posting] = plan_for(refund)
    sage = posting.payment
    assert sage.payment_reference == "1000200"
    assert sage.amount == Decimal("-25.50")
    assert sage.payment_status is SageStatus.REFUNDED
    assert sage.original_payment_reference == "1000123"
    assert sage.gl_account_id == GL["refund"].credit
    assert sage.memo == "refund 1000200 of 1000123"
    assert posting.rule == GL["refund"]


@pytest.mark.parametrize("status", [PaymentStatus.VOIDED, PaymentStatus.APPROVED])
def test_refunds_that_did_not_refund_post_nothing(status: PaymentStatus) -> None:
    assert plan_for(payment(type=PaymentType.REFUND, status=status)) == []


def test_failed_refund_is_recorded_as_failed() -> None:
    [posting] = plan_for(payment(type=PaymentType.REFUND, status=PaymentStatus.FAILED))
    assert posting.payment.payment_status is SageStatus.FAILED and posting.rule is None


def test_voided_sale_is_recorded_then_reversed() -> None:
    original, void = plan_for(payment(status=PaymentStatus.VOIDED))
    assert original.payment.payment_reference == "1000123"
    assert original.payment.payment_status is SageStatus.PAID
    assert original.payment.amount == Decimal("110.00")
    assert original.payment.invoice_id == "INV-1"
    assert original.rule == GL["sale"]
    assert void.payment.payment_reference == "1000123" + VOID_SUFFIX == "1000123-VOID"
    assert void.payment.payment_status is SageStatus.VOIDED
    assert void.payment.amount == Decimal("-110.00")
    assert void.payment.original_payment_reference == "1000123"
    assert void.rule == GLRule(debit=GL["sale"].credit, credit=GL["sale"].debit)
    assert void.payment.gl_account_id == GL["sale"].debit  # the money leaves where it came in


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (PaymentType.AUTHORIZATION, PaymentStatus.AUTHORIZED),
        (PaymentType.AUTHORIZATION, PaymentStatus.VOIDED),
        (PaymentType.SALE, PaymentStatus.CHARGEBACK),
    ],
)
def test_nothing_moved_nothing_posted(kind: PaymentType, status: PaymentStatus) -> None:
    assert plan_for(payment(type=kind, status=status)) == []


def stored(posting: Posting, invoice_balance: Decimal | None) -> SagePayment:
    """``posting.payment`` as Sage Pro keeps it: money to the invoice first, the rest on account."""
    sage = posting.payment
    whole = abs(sage.amount)
    applied = min(whole, invoice_balance) if invoice_balance is not None else Decimal("0.00")
    sign = 1 if sage.amount >= 0 else -1
    return sage.model_copy(
        update={"applied_amount": sign * applied, "unapplied_amount": sign * (whole - applied)}
    )


def _totals(entry: JournalEntry) -> tuple[Decimal, Decimal]:
    return sum((line.debit for line in entry.lines), Decimal(0)), sum(
        (line.credit for line in entry.lines), Decimal(0)
    )


def _by_account(entry: JournalEntry) -> dict[str, tuple[Decimal, Decimal]]:
    lines: dict[str, tuple[Decimal, Decimal]] = {}
    for line in entry.lines:
        debit, credit = lines.get(line.gl_account_id, (Decimal(0), Decimal(0)))
        lines[line.gl_account_id] = (debit + line.debit, credit + line.credit)
    return lines


def test_journal_for_a_sale_part_applied() -> None:
    [posting] = plan_for(payment())
    assert posting.rule is not None
    entry = journal_entry(stored(posting, Decimal("100.00")), posting.rule, UNAPPLIED)
    assert entry.reference == "1000123"
    assert entry.entry_date == date(2024, 7, 4)
    assert entry.memo == "PayTrace sale 1000123"
    assert _by_account(entry) == {
        "1010": (Decimal("110.00"), Decimal(0)),
        "1200": (Decimal(0), Decimal("100.00")),
        "2100": (Decimal(0), Decimal("10.00")),
    }


def test_journal_for_a_refund_of_money_on_account() -> None:
    refund = payment(
        type=PaymentType.REFUND,
        status=PaymentStatus.REFUNDED,
        amount=Decimal("30.00"),
        original_transaction_id="1000100",
        references=References(),
    )
    [posting] = plan_for(refund, invoice_id=None)
    assert posting.rule is not None
    entry = journal_entry(stored(posting, None), posting.rule, UNAPPLIED)
    assert _by_account(entry) == {
        "2100": (Decimal("30.00"), Decimal(0)),
        "1010": (Decimal(0), Decimal("30.00")),
    }


def test_a_void_undoes_its_sale_in_the_ledger() -> None:
    original, void = plan_for(payment(status=PaymentStatus.VOIDED))
    net: dict[str, Decimal] = {}
    for posting in (original, void):
        assert posting.rule is not None
        entry = journal_entry(stored(posting, Decimal("80.00")), posting.rule, UNAPPLIED)
        for account, (debit, credit) in _by_account(entry).items():
            net[account] = net.get(account, Decimal(0)) + debit - credit
    assert set(net) == {"1010", "1200", "2100"}
    assert all(value == 0 for value in net.values())


amounts = st.decimals(min_value=CENT, max_value=Decimal("9999999.99"), places=2)


@given(amounts, st.floats(min_value=0, max_value=1), st.booleans())
def test_journal_entries_always_balance(amount: Decimal, share: float, negative: bool) -> None:
    applied = (amount * Decimal(share)).quantize(CENT).min(amount)
    sign = -1 if negative else 1
    sage = SagePayment(
        payment_reference="R1",
        payment_date=date(2024, 7, 4),
        amount=sign * amount,
        customer_id=CUSTOMER,
        applied_amount=sign * applied,
        unapplied_amount=sign * (amount - applied),
    )
    rule = GL["refund"] if negative else GL["sale"]
    entry = journal_entry(sage, rule, UNAPPLIED)
    debits, credits = _totals(entry)
    assert debits == credits == amount
    assert all(line.debit >= 0 and line.credit >= 0 for line in entry.lines)
    assert all((line.debit == 0) != (line.credit == 0) for line in entry.lines)
    accounts = {line.gl_account_id for line in entry.lines}
    assert accounts <= {rule.debit, rule.credit, UNAPPLIED}
    if negative:
        assert _by_account(entry)[rule.credit][1] == amount
    else:
        assert _by_account(entry)[rule.debit][0] == amount


payment_kinds = st.sampled_from(
    [
        (PaymentType.SALE, PaymentStatus.APPROVED),
        (PaymentType.SALE, PaymentStatus.SETTLED),
        (PaymentType.SALE, PaymentStatus.VOIDED),
        (PaymentType.SALE, PaymentStatus.DECLINED),
        (PaymentType.AUTHORIZATION, PaymentStatus.CAPTURED),
        (PaymentType.AUTHORIZATION, PaymentStatus.AUTHORIZED),
        (PaymentType.CAPTURE, PaymentStatus.APPROVED),
        (PaymentType.REFUND, PaymentStatus.REFUNDED),
    ]
)


@given(
    payment_kinds,
    amounts,
    st.one_of(st.none(), st.decimals(min_value=0, max_value=Decimal("9999999.99"), places=2)),
)
def test_every_planned_posting_journals_in_balance_on_its_own_accounts(
    kind: tuple[PaymentType, PaymentStatus], amount: Decimal, invoice_balance: Decimal | None
) -> None:
    transaction_type, status = kind
    p = payment(
        type=transaction_type,
        status=status,
        amount=amount,
        original_transaction_id="1000100" if transaction_type is PaymentType.REFUND else None,
    )
    invoice = "INV-1" if invoice_balance is not None else None
    for posting in plan_for(p, invoice_id=invoice):
        sage = posting.payment
        assert abs(sage.amount) == amount
        assert (sage.amount < 0) == (
            sage.payment_status in (SageStatus.REFUNDED, SageStatus.VOIDED)
        )
        if posting.rule is None:
            assert sage.payment_status is SageStatus.FAILED
            continue
        entry = journal_entry(stored(posting, invoice_balance), posting.rule, UNAPPLIED)
        debits, credits = _totals(entry)
        assert debits == credits == amount
        assert {line.gl_account_id for line in entry.lines} <= posting.accounts(UNAPPLIED)
        assert entry.reference == sage.payment_reference


@pytest.mark.parametrize(
    "status",
    [s for s in PaymentStatus if s is not PaymentStatus.CHARGEBACK],
)
def test_a_chargeback_never_posts_as_a_payment_in(status: PaymentStatus) -> None:
    """A CHARGEBACK typed record whose status reads approved/settled/... is money going back:
    refused (dead letter), never a positive Paid payment."""
    with pytest.raises(Rejected) as refused:
        plan_for(payment(type=PaymentType.CHARGEBACK, status=status))
    assert refused.value.reason == "chargeback_not_a_payment"


def test_a_chargeback_in_chargeback_status_posts_nothing_here() -> None:
    # its credit memo and journal entry come from the disputes flow, keyed by case and stage
    assert plan_for(payment(type=PaymentType.CHARGEBACK, status=PaymentStatus.CHARGEBACK)) == []
