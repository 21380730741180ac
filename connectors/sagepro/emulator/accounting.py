"""The accounting rules the emulator enforces, on integer cents.

balance = total - paid - credited, where paid is the sum of what payments applied (refunds and
voids apply negative amounts). Every rule here keeps 0 <= balance <= total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.sagepro.emulator.parsing import Fields
from connectors.sagepro.emulator.problems import ApiError, invalid
from connectors.sagepro.money import format_cents


@dataclass(frozen=True)
class InvoiceTotals:
    total: int
    paid: int
    credited: int

    @property
    def balance(self) -> int:
        return self.total - self.paid - self.credited

    @property
    def status(self) -> str:
        if self.balance == self.total:
            return "Open"
        if self.balance == 0:
            return "Paid" if self.paid > 0 else "Credited"
        return "PartiallyPaid"


@dataclass(frozen=True)
class Application:
    """How a payment splits between its invoice and the customer's account (may be negative)."""

    applied: int
    unapplied: int


def apply_payment(balance: int | None, amount: int, *, on_account: bool) -> Application:
    """A positive payment: to its invoice up to the balance; the rest only if on account."""
    if balance is None:  # no invoice named
        if not on_account:
            raise invalid("VALIDATION_ERROR", "InvoiceID", "is required unless OnAccount is true")
        return Application(0, amount)
    if amount <= balance:
        return Application(amount, 0)
    if on_account:
        return Application(balance, amount - balance)
    raise invalid(
        "OVERPAYMENT",
        "Amount",
        f"exceeds the invoice balance of {format_cents(balance)}",
        f"payment of {format_cents(amount)} exceeds the invoice balance {format_cents(balance)}",
    )


def apply_reversal(
    remaining: Application, amount: int, *, status: str, original_reference: str
) -> Application:
    """A refund or void (amount < 0) of an earlier payment: unapplied money goes back first."""
    back = -amount
    left = remaining.applied + remaining.unapplied
    if back > left:
        raise invalid(
            "REFUND_EXCEEDS_PAYMENT",
            "Amount",
            f"only {format_cents(left)} of payment {original_reference!r} is left to reverse",
        )
    if status == "Voided" and back != left:
        raise invalid(
            "VALIDATION_ERROR",
            "Amount",
            f"a void reverses the whole remaining payment: {format_cents(-left)}",
        )
    from_unapplied = min(back, remaining.unapplied)
    return Application(-(back - from_unapplied), -from_unapplied)


def check_credit(totals: InvoiceTotals, amount: int) -> None:
    if amount > totals.balance:
        raise invalid(
            "CREDIT_EXCEEDS_BALANCE",
            "Amount",
            f"exceeds the invoice balance of {format_cents(totals.balance)}",
        )


def check_new_total(totals: InvoiceTotals, new_total: int) -> None:
    if new_total < totals.paid + totals.credited:
        raise invalid(
            "TOTAL_BELOW_APPLIED",
            "TotalAmount",
            f"below the {format_cents(totals.paid + totals.credited)} already paid and credited",
        )


@dataclass(frozen=True)
class JournalLineIn:
    gl_account_id: str
    debit: int
    credit: int
    memo: str | None


def check_journal(lines: list[JournalLineIn], accounts: dict[str, bool]) -> None:
    """At least two lines, each on an active known account, and debits == credits."""
    unknown: list[dict[str, str]] = []
    for index, line in enumerate(lines):
        active = accounts.get(line.gl_account_id)
        if active is None:
            unknown.append({"field": f"Lines[{index}].GLAccountID", "issue": "unknown account"})
        elif not active:
            unknown.append({"field": f"Lines[{index}].GLAccountID", "issue": "account inactive"})
    if unknown:
        raise ApiError(422, "UNKNOWN_GL_ACCOUNT", "journal entry names unknown accounts", unknown)
    debits = sum(line.debit for line in lines)
    credits = sum(line.credit for line in lines)
    if debits != credits:
        raise invalid(
            "UNBALANCED_ENTRY",
            "Lines",
            f"debits {format_cents(debits)} != credits {format_cents(credits)}",
            "journal entry does not balance",
        )


def journal_line_issues(raw_lines: Any) -> tuple[list[JournalLineIn], list[dict[str, str]]]:
    """Shape checks for Lines, before the accounting checks (kept apart for clear errors)."""
    if not isinstance(raw_lines, list) or len(raw_lines) < 2:
        return [], [{"field": "Lines", "issue": "needs at least two lines"}]
    lines: list[JournalLineIn] = []
    issues: list[dict[str, str]] = []
    for index, raw in enumerate(raw_lines):
        fields = Fields(raw if isinstance(raw, dict) else {})
        account = fields.text("GLAccountID", required=True)
        debit = fields.cents("Debit", positive=False) or 0
        credit = fields.cents("Credit", positive=False) or 0
        memo = fields.text("Memo")
        if debit < 0 or credit < 0:
            fields.issue("Debit/Credit", "must not be negative")
        elif (debit > 0) == (credit > 0):
            fields.issue("Debit/Credit", "exactly one of Debit or Credit must be above 0")
        issues.extend(
            {"field": f"Lines[{index}].{i['field']}", "issue": i["issue"]} for i in fields.issues
        )
        if account is not None:
            lines.append(JournalLineIn(account, debit, credit, memo))
    return lines, issues
