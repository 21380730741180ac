"""Canonical payment -> the Sage Pro postings it calls for, per the mapping.

Everything is built and validated here, before the first call, so that a payload Sage Pro
would refuse is dead-lettered with nothing half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connectors.sagepro.models import JournalEntry, JournalLine
from connectors.sagepro.models import Payment as SagePayment
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import Payment, PaymentStatus, PaymentType
from stream.mapping import GLRule, Mapping

VOID_SUFFIX = "-VOID"


@dataclass(frozen=True)
class Posting:
    """One payment record and its balancing journal entry (same reference)."""

    payment: SagePayment
    journal: JournalEntry | None


def _journal(reference: str, day: date, amount: Decimal, rule: GLRule, memo: str) -> JournalEntry:
    amount = abs(amount)
    return JournalEntry(
        reference=reference,
        entry_date=day,
        memo=memo,
        lines=[
            JournalLine(gl_account_id=rule.debit, debit=amount, memo=memo),
            JournalLine(gl_account_id=rule.credit, credit=amount, memo=memo),
        ],
    )


def _sale_rule(payment: Payment, mapping: Mapping, on_account: bool) -> GLRule:
    accounts = mapping.sagepro.gl_accounts
    key = "on_account" if on_account else payment.type.value
    return accounts.get(key) or accounts["sale"]


def plan(
    payment: Payment,
    mapping: Mapping,
    *,
    customer_id: str,
    invoice_id: str | None,
    invoice_found: bool,
) -> list[Posting]:
    """The postings for ``payment``, in order. Empty when nothing moves money in the ERP."""
    sage = mapping.sagepro
    day = payment.occurred_at.date()
    ref = payment.transaction_id
    on_account = not invoice_found
    review = bool(payment.references.erp_invoice_id) and not invoice_found
    memo = f"PayTrace {payment.type} {ref}"
    if review:
        memo += f"; invoice {payment.references.erp_invoice_id} not found, posted on account"

    def sale_posting(status: SageStatus) -> Posting:
        rule = _sale_rule(payment, mapping, on_account)
        record = SagePayment(
            payment_reference=ref,
            payment_date=day,
            amount=payment.amount,
            customer_id=customer_id,
            invoice_id=None if on_account else invoice_id,
            payment_method_code=sage.payment_method_code,
            payment_status=status,
            on_account=True,
            needs_review=review,
            memo=memo,
        )
        moved = status is SageStatus.PAID
        return Posting(record, _journal(ref, day, payment.amount, rule, memo) if moved else None)

    def status_of(status: PaymentStatus) -> SageStatus:
        return SageStatus(sage.payment_status[status])

    if payment.status in (PaymentStatus.DECLINED, PaymentStatus.FAILED):
        return [sale_posting(status_of(payment.status))]
    if payment.type is PaymentType.REFUND:
        if payment.status is not PaymentStatus.REFUNDED:
            return []
        record = SagePayment(
            payment_reference=ref,
            payment_date=day,
            amount=-payment.amount,
            customer_id=customer_id,
            invoice_id=None if on_account else invoice_id,
            payment_method_code=sage.payment_method_code,
            payment_status=status_of(PaymentStatus.REFUNDED),
            original_payment_reference=payment.original_transaction_id,
            needs_review=review,
            memo=memo,
        )
        refund_journal = _journal(ref, day, payment.amount, sage.gl_accounts["refund"], memo)
        return [Posting(record, refund_journal)]
    if payment.type is PaymentType.AUTHORIZATION and payment.status is PaymentStatus.AUTHORIZED:
        return []  # nothing has moved yet
    if payment.status is PaymentStatus.VOIDED:
        if payment.type is PaymentType.AUTHORIZATION:
            return []  # a voided authorization never moved money
        # The sale is recorded, then reversed: both postings are idempotent by reference.
        original = sale_posting(status_of(PaymentStatus.APPROVED))
        reversal = SagePayment(
            payment_reference=ref + VOID_SUFFIX,
            payment_date=day,
            amount=-payment.amount,
            customer_id=customer_id,
            invoice_id=original.payment.invoice_id,
            payment_method_code=sage.payment_method_code,
            payment_status=status_of(PaymentStatus.VOIDED),
            original_payment_reference=ref,
            needs_review=review,
            memo=f"void of {ref}",
        )
        rule = _sale_rule(payment, mapping, on_account)
        reversed_rule = GLRule(debit=rule.credit, credit=rule.debit)
        void_journal = _journal(
            ref + VOID_SUFFIX, day, payment.amount, reversed_rule, f"void of {ref}"
        )
        return [original, Posting(reversal, void_journal)]
    if payment.status in (PaymentStatus.APPROVED, PaymentStatus.CAPTURED, PaymentStatus.SETTLED):
        return [sale_posting(status_of(payment.status))]
    return []
