"""Sink flow: canonical payments -> Sage Pro payments and journal entries.

Postings are idempotent by reference (PaymentReference / journal Reference), so a replay after
a crash re-posts nothing. What the record itself carries (a refund's original id, the GL
accounts its postings name) is checked before the first write. The runtime writes each key's
payments in order (a later state builds on the earlier postings) and keys concurrently.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from agents.paytrace_source import record_payload
from connectors.base.errors import RecordError
from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.sagepro.models import Customer
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import Payment, PaymentType
from schemas.raw import RawPayTraceTransaction
from stream.pci import redact_text
from stream.runtime.outcomes import Rejected, Result
from stream.runtime.sink import BatchSink, Item
from stream.to_sagepro import Posting, journal_entry, plan
from stream.transform import InvalidRecord, to_payment

log = logging.getLogger(__name__)
CACHE_SIZE = 10_000  # invoices' customers, and customers known to exist


def remember(cache: OrderedDict[str, str], key: str, value: str) -> None:
    """Least recently stored out first: a bounded cache of what Sage Pro does not change."""
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


def askable(identifier: str | None) -> str | None:
    """An invoice or customer id fit to put in a URL: one that reads as a card number (people
    type them into any field) is never sent; it names no real record, so it counts as absent."""
    if identifier and redact_text(identifier) == identifier:
        return identifier
    return None


def original_id(payment: Payment) -> str | None:
    """A refund's original transaction id: 1-18 ASCII digits, as the Payment schema enforces
    (schemas/payment.py TRANSACTION_ID), so text that is no id never reaches a PayTrace call."""
    if payment.type is not PaymentType.REFUND:
        return None
    return payment.original_transaction_id


class SageProPaymentSink(BatchSink[Payment]):
    model = Payment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chart = ChartOfAccounts(self.ctx.connectors.sagepro)
        self._unmatched_ready = False
        self._invoice_customers: OrderedDict[str, str] = OrderedDict()
        # A customer, once there, stays: a returning customer's payment skips the look-up.
        self._known_customers: OrderedDict[str, str] = OrderedDict()
        # What the batch's look-up found missing: good for that batch only.
        self._absent_invoices: set[str] = set()
        self._absent_customers: set[str] = set()

    def in_flight(self) -> int:
        return self.ctx.connectors.sagepro_settings.max_in_flight

    async def write(self, batch: list[Item[Payment]]) -> list[Result]:
        await self.look_up([item.value for item in batch])
        return await super().write(batch)

    async def look_up(self, payments: list[Payment]) -> None:
        """Which of the batch's invoices and customers Sage Pro holds, in one call per hundred
        instead of a GET per payment. What is absent is known for this batch only (it may be
        created later); a failed look-up only costs the saving: each payment asks again."""
        self._absent_invoices = set()
        self._absent_customers = set()
        invoices = {i for p in payments if (i := askable(p.references.erp_invoice_id))}
        invoices -= self._invoice_customers.keys()
        customers = {c for p in payments if (c := askable(p.references.erp_customer_id))}
        customers -= self._known_customers.keys()
        try:
            if invoices:
                found = await self.sage.invoices_by_id(invoices)
                for invoice_id, invoice in found.items():
                    remember(self._invoice_customers, invoice_id, invoice.customer_id)
                self._absent_invoices = invoices - found.keys()
            if customers:
                known = await self.sage.customers_by_id(customers)
                for customer_id in known:
                    remember(self._known_customers, customer_id, customer_id)
                self._absent_customers = customers - known.keys()
        except Exception as exc:  # only a saving: each payment then looks up its own
            log.info("%s: batch look-up failed (%r); looking up one by one", self.name, exc)

    @property
    def sage(self) -> SageProBackend:
        return self.ctx.connectors.sagepro()

    @property
    def unapplied_account(self) -> str:
        return self.ctx.mapping.sagepro.gl_accounts["on_account"].credit

    async def write_one(self, item: Item[Payment]) -> None:
        await self.post(item.value)

    async def post(self, payment: Payment, *, fetch_original: bool = True) -> None:
        original = original_id(payment)
        for posting in await self.postings(payment):
            if fetch_original and original is not None:
                await self.original_posted(posting, original)
            stored = await self.sage.post_payment(posting.payment)
            if posting.rule is not None:
                entry = journal_entry(stored, posting.rule, self.unapplied_account)
                await self.sage.post_journal_entry(entry)

    async def postings(self, payment: Payment) -> list[Posting]:
        invoice_id = payment.references.erp_invoice_id
        asked = askable(invoice_id)
        invoice_customer = await self.invoice_customer(asked) if asked else None
        customer = invoice_customer or await self.customer_for(payment)
        postings = plan(
            payment,
            self.ctx.mapping,
            customer_id=customer,
            invoice_id=invoice_id if invoice_customer is not None else None,
        )
        # Every account before the first posting: a wrong mapping parks the record whole.
        accounts = {a for p in postings for a in p.accounts(self.unapplied_account)}
        if accounts:
            await self.chart.require(accounts)
        return postings

    async def invoice_customer(self, invoice_id: str) -> str | None:
        """The invoice's customer, or None when Sage Pro has no such invoice."""
        if invoice_id in self._invoice_customers:
            return self._invoice_customers[invoice_id]
        if invoice_id in self._absent_invoices:
            return None
        invoice = await self.sage.get_invoice(invoice_id)
        if invoice is None:
            return None  # not cached: the invoice may be created later
        remember(self._invoice_customers, invoice_id, invoice.customer_id)
        return invoice.customer_id

    async def customer_for(self, payment: Payment) -> str:
        vault_id = askable(payment.references.erp_customer_id)
        if vault_id and vault_id in self._known_customers:
            return vault_id
        if (
            vault_id
            and vault_id not in self._absent_customers
            and await self.sage.get_customer(vault_id) is not None
        ):
            remember(self._known_customers, vault_id, vault_id)
            return vault_id
        fallback = self.ctx.mapping.sagepro.unmatched_customer_id
        if not self._unmatched_ready:
            if await self.sage.get_customer(fallback) is None:
                await self.sage.create_customer(
                    Customer(customer_id=fallback, name="Unmatched PayTrace payments")
                )
            self._unmatched_ready = True
        return fallback

    async def original_posted(self, posting: Posting, original: str) -> None:
        """A refund names its sale, which travels on another key and may not be posted yet.

        Waiting for it would stall this flow (and with it the sale's own partition), so the
        sale is fetched from PayTrace, the source of truth, and posted first. Its own event
        finds it there later: an idempotent no-op. PayTrace being down raises its Retriable
        error: the runtime holds or, past the retry budget, dead-letters the refund.
        """
        if posting.payment.payment_status is not SageStatus.REFUNDED:
            return
        if await self.sage.get_payment(original) is not None:
            return
        record = await self.ctx.connectors.paytrace().export_by_id(original)
        if record is None:
            raise RecordError(
                f"refund {posting.payment.payment_reference}: PayTrace has no transaction "
                f"{original} to refund",
                system="paytrace",
                code="ORIGINAL_NOT_FOUND",
            )
        try:
            raw = RawPayTraceTransaction(
                source="poll",
                fetched_at=datetime.now(UTC),
                merchant_timezone=str(self.ctx.connectors.paytrace_settings.zone),
                record=record_payload(record),
            )
            sale = to_payment(raw, self.ctx.mapping)
        except InvalidRecord as exc:  # the refunded sale, fetched from PayTrace, was unusable
            raise Rejected(exc.reason, f"original {original} of this refund: {exc}") from exc
        except ValueError as exc:
            raise Rejected("malformed", f"original {original} of this refund: {exc}") from exc
        # Not its own original in turn: a loop of refunds in PayTrace's data ends here.
        await self.post(sale, fetch_original=False)
