"""What the pipeline needs from Sage Pro, independent of how it is reached.

Sage Pro has no public REST API. ``SageProRestClient`` speaks our own REST contract; a
database bridge (or an SDK wrapper on the Sage Pro host) can implement this same protocol and
the pipeline will not notice. Rules every implementation keeps:

- ``get_*`` return None when the record does not exist; other failures raise ``ConnectorError``.
- ``create_*`` and ``post_*`` are idempotent by their key (CustomerID, InvoiceID, OrderNumber,
  PaymentReference, journal/credit-memo Reference): a second call returns the stored record.
- Failures raise ``ConnectorError`` whose ``action`` comes from ``errors.ERROR_TABLE`` codes.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Protocol, runtime_checkable

from connectors.sagepro.models import (
    CreditMemo,
    Customer,
    CustomerUpdate,
    GLAccount,
    Invoice,
    InvoiceStatus,
    InvoiceUpdate,
    JournalEntry,
    Order,
    OrderStatus,
    OrderUpdate,
    Payment,
    PaymentStatus,
)


@runtime_checkable
class SageProBackend(Protocol):
    async def get_customer(self, customer_id: str) -> Customer | None: ...

    async def find_customers(
        self, *, email: str | None = None, name: str | None = None
    ) -> list[Customer]: ...

    async def create_customer(self, customer: Customer) -> Customer: ...

    async def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer: ...

    async def get_invoice(self, invoice_id: str) -> Invoice | None: ...

    async def customers_by_id(self, customer_ids: Collection[str]) -> dict[str, Customer]:
        """Those of ``customer_ids`` that exist, by id (absent ones are left out)."""
        ...

    async def invoices_by_id(self, invoice_ids: Collection[str]) -> dict[str, Invoice]:
        """Those of ``invoice_ids`` that exist, by id (absent ones are left out)."""
        ...

    async def list_invoices(
        self,
        *,
        customer_id: str | None = None,
        status: InvoiceStatus | None = None,
        order_number: str | None = None,
    ) -> list[Invoice]: ...

    async def create_invoice(self, invoice: Invoice) -> Invoice: ...

    async def update_invoice(self, invoice_id: str, changes: InvoiceUpdate) -> Invoice: ...

    async def get_order(self, order_number: str) -> Order | None: ...

    async def list_orders(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None
    ) -> list[Order]: ...

    async def create_order(self, order: Order) -> Order: ...

    async def update_order(self, order_number: str, changes: OrderUpdate) -> Order: ...

    async def post_payment(self, payment: Payment) -> Payment: ...

    async def get_payment(self, payment_reference: str) -> Payment | None: ...

    async def list_payments(
        self,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        status: PaymentStatus | None = None,
        needs_review: bool | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[Payment]: ...

    async def post_journal_entry(self, entry: JournalEntry) -> JournalEntry: ...

    async def get_journal_entry(self, reference: str) -> JournalEntry | None: ...

    async def list_journal_entries(
        self,
        *,
        reference: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[JournalEntry]: ...

    async def post_credit_memo(self, memo: CreditMemo) -> CreditMemo: ...

    async def get_credit_memo(self, reference: str) -> CreditMemo | None: ...

    async def list_credit_memos(self, *, invoice_id: str | None = None) -> list[CreditMemo]: ...

    async def get_gl_accounts(self) -> list[GLAccount]: ...

    async def aclose(self) -> None: ...
