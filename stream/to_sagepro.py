"""Canonical payment -> the Sage Pro postings it calls for, per the mapping.

Sage Pro keeps the AR sub-ledger (payments against invoices) apart from the general ledger,
so each money movement is two idempotent calls: the payment, then a journal entry built from
the payment *as stored* (Sage Pro decides how much applied to the invoice and how much went on
account). Everything that can be checked locally is checked before the first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from connectors.sagepro.models import JournalEntry, JournalLine
from connectors.sagepro.models import Payment as SagePayment
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import Payment, PaymentStatus, PaymentType
from stream.mapping import GLRule, Mapping
from stream.pci import redact_text
from stream.runtime.outcomes import Rejected

VOID_SUFFIX = "-VOID"


@dataclass(frozen=True)
class Posting:
    """A payment to post and the GL rule for its journal entry (None: moves no money)."""

    payment: SagePayment
    rule: GLRule | None

    def accounts(self, unapplied_account: str) -> set[str]:
        if self.rule is None:
            return set()
        return {self.rule.debit, self.rule.credit, unapplied_account, self.payment.gl_account_id}


def journal_entry(stored: SagePayment, rule: GLRule, unapplied_account: str) -> JournalEntry:
    """The entry for ``stored``: ``rule`` describes the posting in its own direction.

    Money in (amount > 0): Dr rule.debit the amount; Cr rule.credit what applied to the
    invoice and Cr the unapplied account what went on account. Money out (refunds, voids):
    Cr rule.credit the amount; Dr rule.debit and the unapplied account likewise.
    """
    applied = abs(stored.applied_amount or Decimal("0"))
    unapplied = abs(stored.unapplied_amount or Decimal("0"))
    amount = abs(stored.amount)
    # What Sage Pro stored is written again here: redacted like anything else we send.
    memo = redact_text(stored.memo or f"payment {stored.payment_reference}")
    lines: list[JournalLine] = []
    if stored.amount >= 0:
        lines.append(JournalLine(gl_account_id=rule.debit, debit=amount, memo=memo))
        if applied:
            lines.append(JournalLine(gl_account_id=rule.credit, credit=applied, memo=memo))
        if unapplied:
            lines.append(JournalLine(gl_account_id=unapplied_account, credit=unapplied, memo=memo))
    else:
        if applied:
            lines.append(JournalLine(gl_account_id=rule.debit, debit=applied, memo=memo))
        if unapplied:
            lines.append(JournalLine(gl_account_id=unapplied_account, debit=unapplied, memo=memo))
        lines.append(JournalLine(gl_account_id=rule.credit, credit=amount, memo=memo))
    return JournalEntry(
        reference=redact_text(stored.payment_reference),
        entry_date=stored.payment_date,
        lines=lines,
        memo=memo,
    )


def _sale_rule(payment: Payment, mapping: Mapping) -> GLRule:
    accounts = mapping.sagepro.gl_accounts
    return accounts.get(payment.type.value) or accounts["sale"]


def plan(
    payment: Payment,
    mapping: Mapping,
    *,
    customer_id: str,
    invoice_id: str | None,
) -> list[Posting]:
    """The postings for ``payment``, in order; ``invoice_id`` None means none was found.

    Every string that reaches Sage Pro is redacted here, whatever wrote the payment.
    """
    sage = mapping.sagepro
    day = payment.occurred_at.date()
    ref = redact_text(payment.transaction_id)
    original_ref = payment.original_transaction_id and redact_text(payment.original_transaction_id)
    wanted_invoice = payment.references.erp_invoice_id
    customer_id = redact_text(customer_id)
    invoice_id = invoice_id and redact_text(invoice_id)
    review = bool(wanted_invoice) and invoice_id is None
    memo = f"PayTrace {payment.type} {ref}"
    if review:
        memo += f"; invoice {wanted_invoice} not found, posted on account for review"
    memo = redact_text(memo)  # texts are redacted whole: parts joined could read as a card

    def status_of(status: PaymentStatus) -> SageStatus:
        return SageStatus(sage.payment_status[status])

    def money_in(status: SageStatus) -> Posting:
        rule = _sale_rule(payment, mapping)
        record = SagePayment(
            payment_reference=ref,
            payment_date=day,
            amount=payment.amount,
            customer_id=customer_id,
            invoice_id=invoice_id,
            gl_account_id=rule.debit,
            payment_method_code=sage.payment_method_code,
            payment_status=status,
            on_account=True,  # anything over the invoice balance is kept, not refused
            needs_review=review,
            memo=memo,
        )
        return Posting(record, rule if status is not SageStatus.FAILED else None)

    def money_out(reference: str, status: SageStatus, rule: GLRule, text: str) -> Posting:
        record = SagePayment(
            payment_reference=reference,
            payment_date=day,
            amount=-payment.amount,
            customer_id=customer_id,
            gl_account_id=rule.credit,
            payment_method_code=sage.payment_method_code,
            payment_status=status,
            original_payment_reference=ref if status is SageStatus.VOIDED else original_ref,
            needs_review=review,
            memo=redact_text(text),
        )
        return Posting(record, rule)

    if payment.type is PaymentType.CHARGEBACK and payment.status is not PaymentStatus.CHARGEBACK:
        # Money goes back to the cardholder: posting it as a payment in would book it the
        # wrong way round. Whatever wrote this record (a replay, another producer), refuse it.
        raise Rejected(
            "chargeback_not_a_payment",
            f"chargeback {ref} has status {payment.status}: a chargeback never posts as a "
            "payment; disputes post credit memos (agents/dispute_sink.py)",
        )
    if payment.status is PaymentStatus.CHARGEBACK:
        return []  # the disputes flow posts a chargeback's credit memo and journal entry
    if payment.status in (PaymentStatus.DECLINED, PaymentStatus.FAILED):
        return [money_in(status_of(payment.status))]
    if payment.type is PaymentType.REFUND:
        if payment.status is not PaymentStatus.REFUNDED:
            return []
        text = f"refund {ref} of {original_ref}"
        return [money_out(ref, status_of(PaymentStatus.REFUNDED), sage.gl_accounts["refund"], text)]
    if payment.type is PaymentType.AUTHORIZATION and payment.status is PaymentStatus.AUTHORIZED:
        return []  # nothing has moved yet
    if payment.status is PaymentStatus.VOIDED:
        if payment.type is PaymentType.AUTHORIZATION:
            return []  # a voided authorization never moved money
        # Recorded, then reversed: both idempotent by reference, so any replay is harmless.
        original = money_in(status_of(PaymentStatus.APPROVED))
        rule = _sale_rule(payment, mapping)
        reverse = GLRule(debit=rule.credit, credit=rule.debit)
        void = money_out(
            ref + VOID_SUFFIX, status_of(PaymentStatus.VOIDED), reverse, f"void of {ref}"
        )
        return [original, void]
    if payment.status in (PaymentStatus.APPROVED, PaymentStatus.CAPTURED, PaymentStatus.SETTLED):
        return [money_in(status_of(payment.status))]
    return []
