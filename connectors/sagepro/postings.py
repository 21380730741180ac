"""The GL side of Sage Pro postings: which journal entry goes with a payment or credit memo.

Our contract keeps the AR sub-ledger (invoice balances) and the general ledger apart: posting a
payment moves no GL money, the caller posts the matching journal entry. Over REST the two
cannot be one transaction, so each entry's ``Reference`` is the reference of the record it
books (a payment's PaymentReference, a credit memo's Reference) and both posts are idempotent:
replaying the whole sequence after a crash finishes it without doubling anything.
Build the entry from the payment *as stored* (its applied/unapplied split is the server's).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connectors.sagepro.models import CreditMemo, JournalEntry, JournalLine, Payment, PaymentStatus

RECEIVABLE = "1200"  # Accounts Receivable
CUSTOMER_DEPOSITS = "2100"  # Customer Deposits / Unapplied Payments
SALES_RETURNS = "4900"  # Sales Returns & Refunds
MERCHANT_FEES = "6150"


def _line(account: str, amount: Decimal, memo: str) -> JournalLine:
    """Positive amount: debit; negative: credit."""
    if amount >= 0:
        return JournalLine(gl_account_id=account, debit=amount, memo=memo)
    return JournalLine(gl_account_id=account, credit=-amount, memo=memo)


def payment_journal_entry(payment: Payment) -> JournalEntry | None:
    """Dr deposit account / Cr AR (applied) and Cr Customer Deposits (unapplied).

    Refunds and voids carry negative amounts, so the same rule reverses the original posting.
    Failed payments moved no money: None.
    """
    if payment.payment_status is PaymentStatus.FAILED:
        return None
    applied = payment.applied_amount
    unapplied = payment.unapplied_amount
    if applied is None or unapplied is None:
        raise ValueError("build the entry from the payment Sage Pro returned, not the request")
    memo = f"payment {payment.payment_reference}"
    lines = [_line(payment.gl_account_id, payment.amount, memo)]
    if applied:
        lines.append(_line(RECEIVABLE, -applied, memo))
    if unapplied:
        lines.append(_line(CUSTOMER_DEPOSITS, -unapplied, memo))
    return JournalEntry(
        reference=payment.payment_reference,
        entry_date=payment.payment_date,
        lines=lines,
        memo=payment.memo or memo,
    )


def credit_memo_journal_entry(memo: CreditMemo) -> JournalEntry:
    """Dr Sales Returns & Refunds / Cr AR: the sale is reversed, the invoice owes less."""
    text = f"credit memo {memo.reference} on invoice {memo.invoice_id}"
    return JournalEntry(
        reference=memo.reference,
        entry_date=memo.memo_date,
        lines=[_line(SALES_RETURNS, memo.amount, text), _line(RECEIVABLE, -memo.amount, text)],
        memo=text,
    )


def merchant_fee_journal_entry(
    reference: str, entry_date: date, fee: Decimal, clearing_account: str = "1010"
) -> JournalEntry:
    """Dr Merchant Fees / Cr the clearing account the gross payment was deposited to."""
    text = f"merchant fees {reference}"
    return JournalEntry(
        reference=reference,
        entry_date=entry_date,
        lines=[_line(MERCHANT_FEES, fee, text), _line(clearing_account, -fee, text)],
        memo=text,
    )
