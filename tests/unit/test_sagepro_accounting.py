"""The emulator's accounting rules on cents, and the journal entries the pipeline builds
(stream/to_sagepro.py, the one implementation) balance against them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sagepro.emulator.accounting import (
    Application,
    InvoiceTotals,
    JournalLineIn,
    apply_payment,
    apply_reversal,
    check_credit,
    check_journal,
    journal_line_issues,
)
from connectors.sagepro.emulator.problems import ApiError
from connectors.sagepro.models import Payment, PaymentStatus
from stream.mapping import GLRule
from stream.to_sagepro import journal_entry

SALE = GLRule(debit="1010", credit="1200")
REFUND = GLRule(debit="1200", credit="1010")
UNAPPLIED = "2100"

CHART = {"1010": True, "1200": True, "2100": True, "9999": False}


@pytest.mark.parametrize(
    ("totals", "status"),
    [
        (InvoiceTotals(1000, 0, 0), "Open"),
        (InvoiceTotals(1000, 400, 0), "PartiallyPaid"),
        (InvoiceTotals(1000, 0, 300), "PartiallyPaid"),
        (InvoiceTotals(1000, 1000, 0), "Paid"),
        (InvoiceTotals(1000, 600, 400), "Paid"),
        (InvoiceTotals(1000, 0, 1000), "Credited"),
    ],
)
def test_invoice_status(totals: InvoiceTotals, status: str) -> None:
    assert totals.status == status


def test_payment_within_balance_applies_fully() -> None:
    assert apply_payment(1000, 400, on_account=False) == Application(400, 0)


def test_overpayment_rejected_unless_on_account() -> None:
    with pytest.raises(ApiError) as caught:
        apply_payment(1000, 1001, on_account=False)
    assert (caught.value.status, caught.value.code) == (422, "OVERPAYMENT")
    assert caught.value.details[0]["field"] == "Amount"
    assert apply_payment(1000, 1500, on_account=True) == Application(1000, 500)


def test_no_invoice_requires_on_account() -> None:
    with pytest.raises(ApiError, match=r"OnAccount is true"):
        apply_payment(None, 100, on_account=False)
    assert apply_payment(None, 100, on_account=True) == Application(0, 100)


def test_reversal_returns_unapplied_first_and_is_bounded() -> None:
    remaining = Application(1000, 500)
    assert apply_reversal(remaining, -700, status="Refunded", original_reference="T") == (
        Application(-200, -500)
    )
    with pytest.raises(ApiError) as caught:
        apply_reversal(remaining, -1501, status="Refunded", original_reference="T")
    assert caught.value.code == "REFUND_EXCEEDS_PAYMENT"
    with pytest.raises(ApiError, match="whole"):
        apply_reversal(remaining, -100, status="Voided", original_reference="T")
    assert apply_reversal(remaining, -1500, status="Voided", original_reference="T") == (
        Application(-1000, -500)
    )


def test_credit_memo_bounded_by_balance() -> None:
    check_credit(InvoiceTotals(1000, 600, 0), 400)
    with pytest.raises(ApiError) as caught:
        check_credit(InvoiceTotals(1000, 600, 0), 401)
    assert caught.value.code == "CREDIT_EXCEEDS_BALANCE"


def test_journal_rules() -> None:
    balanced = [JournalLineIn("1010", 500, 0, None), JournalLineIn("1200", 0, 500, None)]
    check_journal(balanced, CHART)
    with pytest.raises(ApiError) as unbalanced:
        check_journal([balanced[0], JournalLineIn("1200", 0, 499, None)], CHART)
    assert unbalanced.value.code == "UNBALANCED_ENTRY"
    with pytest.raises(ApiError) as unknown:
        check_journal([balanced[0], JournalLineIn("4242", 0, 500, None)], CHART)
    assert unknown.value.code == "UNKNOWN_GL_ACCOUNT"
    assert unknown.value.details[0]["field"] == "Lines[1].GLAccountID"
    with pytest.raises(ApiError, match="unknown"):
        check_journal([balanced[0], JournalLineIn("9999", 0, 500, None)], CHART)


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        (None, "Lines"),
        ([{"GLAccountID": "1010", "Debit": "1.00"}], "Lines"),
        ([{"GLAccountID": "1010", "Debit": "1", "Credit": "1"}, {}], "Lines[0].Debit/Credit"),
        ([{"GLAccountID": "1010", "Debit": "-1"}, {"GLAccountID": "2"}], "Lines[0].Debit/Credit"),
        ([{"GLAccountID": "1010", "Debit": "1.001"}, {"GLAccountID": "1"}], "Lines[0].Debit"),
    ],
)
def test_journal_line_shapes(lines: object, field: str) -> None:
    _, issues = journal_line_issues(lines)
    assert field in {issue["field"] for issue in issues}


# A pure model of one invoice under any sequence of operations: the rules never let the
# balance leave [0, total], and the status always agrees with it.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 3000), st.booleans()),
        st.tuples(st.just("credit"), st.integers(1, 3000), st.just(False)),
        st.tuples(st.just("refund"), st.integers(1, 3000), st.booleans()),
    ),
    max_size=30,
)


@given(total=st.integers(1, 5000), ops=operations)
def test_rules_keep_balance_between_zero_and_total(
    total: int, ops: list[tuple[str, int, bool]]
) -> None:
    payments: list[list[int]] = []  # [applied, unapplied] still in place per payment
    paid = credited = 0
    for kind, amount, flag in ops:
        totals = InvoiceTotals(total, paid, credited)
        try:
            if kind == "pay":
                split = apply_payment(totals.balance, amount, on_account=flag)
                payments.append([split.applied, split.unapplied])
                paid += split.applied
            elif kind == "credit":
                check_credit(totals, amount)
                credited += amount
            elif payments:
                target = payments[amount % len(payments)]
                status = "Voided" if flag else "Refunded"
                size = sum(target) if flag else amount
                split = apply_reversal(
                    Application(*target), -size, status=status, original_reference="T"
                )
                target[0] += split.applied
                target[1] += split.unapplied
                paid += split.applied
        except ApiError as exc:
            assert exc.status == 422
        totals = InvoiceTotals(total, paid, credited)
        assert 0 <= totals.balance <= total
        assert paid == sum(p[0] for p in payments)
        assert all(p[0] >= 0 and p[1] >= 0 for p in payments)
        assert (totals.status == "Open") == (totals.balance == total)


def _payment(**values: object) -> Payment:
    base: dict[str, object] = {
        "payment_reference": "T1",
        "payment_date": date(2024, 5, 1),
        "customer_id": "C1",
        "amount": Decimal("120.00"),
        "applied_amount": Decimal("100.00"),
        "unapplied_amount": Decimal("20.00"),
    }
    return Payment.model_validate(base | values)


def _balanced(entry: object) -> bool:
    lines = entry.lines  # type: ignore[attr-defined]
    return sum(line.debit for line in lines) == sum(line.credit for line in lines)


def test_payment_entry_books_applied_and_unapplied() -> None:
    entry = journal_entry(_payment(), SALE, UNAPPLIED)
    assert entry.reference == "T1" and _balanced(entry)
    booked = {(line.gl_account_id, line.debit, line.credit) for line in entry.lines}
    assert booked == {
        ("1010", Decimal("120.00"), Decimal("0.00")),
        ("1200", Decimal("0.00"), Decimal("100.00")),
        ("2100", Decimal("0.00"), Decimal("20.00")),
    }


def test_refund_entry_reverses() -> None:
    refund = _payment(
        payment_reference="R1",
        amount=Decimal("-30.00"),
        applied_amount=Decimal("-10.00"),
        unapplied_amount=Decimal("-20.00"),
        payment_status=PaymentStatus.REFUNDED,
    )
    entry = journal_entry(refund, REFUND, UNAPPLIED)
    assert _balanced(entry)
    assert {(line.gl_account_id, line.credit) for line in entry.lines if line.credit} == {
        ("1010", Decimal("30.00"))
    }
    assert {(line.gl_account_id, line.debit) for line in entry.lines if line.debit} == {
        ("1200", Decimal("10.00")),
        ("2100", Decimal("20.00")),
    }
