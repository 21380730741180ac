"""Typed Sage Pro records, spoken in the seed's PascalCase field names (``PaymentReference``).

Python code uses snake_case attributes; aliases carry the wire names. Fields the server
computes (balances, applied amounts, ids it assigns) are optional so the same model serves
for sending and receiving; ``wire()`` drops them before a POST.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from connectors.sagepro.money import Money

_UPPER_TOKENS = {"id": "ID", "gl": "GL"}


def wire_name(field_name: str) -> str:
    """snake_case -> the seed's PascalCase: gl_account_id -> GLAccountID."""
    return "".join(_UPPER_TOKENS.get(part, part.capitalize()) for part in field_name.split("_"))


class SageModel(BaseModel):
    model_config = ConfigDict(alias_generator=wire_name, populate_by_name=True, extra="ignore")

    # Fields the server computes; never sent.
    server_fields: ClassVar[frozenset[str]] = frozenset()

    def wire(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude=set(self.server_fields)
        )


class PaymentStatus(StrEnum):
    PAID = "Paid"
    FAILED = "Failed"
    REFUNDED = "Refunded"
    VOIDED = "Voided"
    ON_ACCOUNT = "OnAccount"


class InvoiceStatus(StrEnum):
    OPEN = "Open"
    PARTIALLY_PAID = "PartiallyPaid"
    PAID = "Paid"
    CREDITED = "Credited"  # closed by credit memos with nothing paid


class OrderStatus(StrEnum):
    OPEN = "Open"
    PAID = "Paid"
    FULFILLED = "Fulfilled"
    CANCELLED = "Cancelled"


class Customer(SageModel):
    server_fields: ClassVar[frozenset[str]] = frozenset({"created_at"})

    customer_id: str | None = None  # assigned by Sage Pro when absent
    name: str
    email: str | None = None
    phone: str | None = None
    # PayTrace customer profile id: a token reference, never card data.
    paytrace_customer_id: str | None = Field(default=None, alias="PayTraceCustomerID")
    memo: str | None = None
    created_at: datetime | None = None


class CustomerUpdate(SageModel):
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    paytrace_customer_id: str | None = Field(default=None, alias="PayTraceCustomerID")
    memo: str | None = None


class Invoice(SageModel):
    server_fields: ClassVar[frozenset[str]] = frozenset(
        {"amount_paid", "amount_credited", "balance_due", "status", "created_at"}
    )

    invoice_id: str | None = None
    customer_id: str
    invoice_date: date
    due_date: date | None = None
    total_amount: Money
    order_number: str | None = None
    memo: str | None = None
    needs_review: bool = False
    amount_paid: Money | None = None
    amount_credited: Money | None = None
    balance_due: Money | None = None
    status: InvoiceStatus | None = None
    created_at: datetime | None = None


class InvoiceUpdate(SageModel):
    due_date: date | None = None
    total_amount: Money | None = None  # may not drop below what is already paid and credited
    order_number: str | None = None
    memo: str | None = None
    needs_review: bool | None = None


class Order(SageModel):
    server_fields: ClassVar[frozenset[str]] = frozenset({"created_at"})

    order_number: str | None = None
    customer_id: str
    order_date: date
    total_amount: Money
    status: OrderStatus = OrderStatus.OPEN
    payment_status: PaymentStatus | None = None
    payment_reference: str | None = None
    invoice_id: str | None = None
    memo: str | None = None
    needs_review: bool = False
    created_at: datetime | None = None


class OrderUpdate(SageModel):
    status: OrderStatus | None = None
    payment_status: PaymentStatus | None = None
    payment_reference: str | None = None
    invoice_id: str | None = None
    total_amount: Money | None = None
    memo: str | None = None
    needs_review: bool | None = None


class Payment(SageModel):
    """A payment record. Refunds and voids are negative payments naming the original."""

    server_fields: ClassVar[frozenset[str]] = frozenset(
        {"applied_amount", "unapplied_amount", "created_at"}
    )

    payment_reference: str  # unique: the PayTrace transactionId
    payment_date: date
    amount: Money  # > 0 for Paid/Failed/OnAccount, < 0 for Refunded/Voided
    customer_id: str
    invoice_id: str | None = None
    gl_account_id: str = "1010"  # deposit account: Undeposited Funds / Merchant Clearing
    payment_method_code: str = "CC"
    payment_status: PaymentStatus = PaymentStatus.PAID
    on_account: bool = False  # put what exceeds the invoice balance (or all of it) on account
    original_payment_reference: str | None = None  # for Refunded / Voided
    needs_review: bool = False
    memo: str | None = None
    applied_amount: Money | None = None
    unapplied_amount: Money | None = None
    created_at: datetime | None = None


class JournalLine(SageModel):
    gl_account_id: str
    debit: Money = Decimal("0.00")
    credit: Money = Decimal("0.00")
    memo: str | None = None


class JournalEntry(SageModel):
    server_fields: ClassVar[frozenset[str]] = frozenset({"journal_entry_id", "created_at"})

    reference: str  # unique: idempotency key (the payment reference for payment postings)
    entry_date: date
    lines: list[JournalLine]
    memo: str | None = None
    journal_entry_id: str | None = None
    created_at: datetime | None = None


class CreditMemo(SageModel):
    server_fields: ClassVar[frozenset[str]] = frozenset({"credit_memo_id", "created_at"})

    reference: str  # unique: idempotency key
    invoice_id: str
    customer_id: str | None = None  # filled from the invoice when absent
    memo_date: date
    amount: Money
    reason: str | None = None
    credit_memo_id: str | None = None
    created_at: datetime | None = None


class GLAccount(SageModel):
    gl_account_id: str
    name: str
    account_type: str  # Asset, Liability, Equity, Revenue, Expense, ContraRevenue
    active: bool = True
