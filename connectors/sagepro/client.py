"""``SageProRestClient``: the ``SageProBackend`` spoken over our REST contract.

Authenticates with an API-key header (a refused key is FATAL: nothing to refresh). Creates and
posts are idempotent: a 409 duplicate carries the stored record, which is returned as if the
call had just succeeded.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import date
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import SecretStr

from connectors.base.errors import AlreadyDone
from connectors.base.http import ApiClient
from connectors.base.paths import path_segment
from connectors.base.retry import RetryPolicy
from connectors.sagepro.errors import SYSTEM, SageProError, SageProRecordError, classify_response
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
    SageModel,
)
from connectors.sagepro.settings import SageProSettings

M = TypeVar("M", bound=SageModel)
log = logging.getLogger(__name__)

API_KEY_HEADER = "X-Api-Key"
IDS_PER_CALL = 100  # the contract's limit on a repeated filter's values
COMPANY_HEADER = "X-Company-ID"


def _params(**values: Any) -> dict[str, str]:
    """Query filters in the contract's names; None means no filter."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = str(value)
    return out


class SageProRestClient(ApiClient):
    system = SYSTEM
    probe_path = "/api/glaccounts"  # small, always there

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr | str,
        *,
        company_id: str | None = None,
        timeout: float = 15.0,
        page_size: int = 200,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, timeout=timeout, retry=retry, transport=transport)
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._company_id = company_id
        self._page_size = page_size

    @classmethod
    def from_settings(
        cls,
        settings: SageProSettings | None = None,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> SageProRestClient:
        settings = settings or SageProSettings()
        return cls(
            settings.base_url,
            settings.api_key,
            company_id=settings.company_id,
            timeout=settings.timeout_seconds,
            page_size=settings.page_size,
            retry=retry,
            transport=transport,
        )

    async def __aenter__(self) -> SageProRestClient:
        return self

    def __repr__(self) -> str:
        return f"SageProRestClient(base_url={str(self.http.base_url)!r})"

    async def authenticate(self) -> dict[str, str]:
        headers = {API_KEY_HEADER: self._api_key.get_secret_value()}
        if self._company_id:
            headers[COMPANY_HEADER] = self._company_id
        return headers

    def classify(self, response: httpx.Response) -> SageProError | None:
        return classify_response(response)

    # --- generic verbs -----------------------------------------------------------------

    def _item(self, collection: str, key: str) -> str:
        """``collection/<key>``, the key one escaped segment (RecordError when unusable)."""
        return f"{collection}/{path_segment(key, system=self.system)}"

    async def _get_one(self, collection: str, key: str, model: type[M]) -> M | None:
        try:
            response = await self.request(
                "GET", self._item(collection, key), endpoint=f"{collection}/{{id}}"
            )
        except SageProError as exc:
            # Only the contract's own "not found" means absent; a bare 404 is a wrong URL.
            if exc.status == 404 and (exc.code or "").endswith("_NOT_FOUND"):
                return None
            raise
        return model.model_validate_json(response.content)

    async def _create(self, collection: str, key: str | None, record: M) -> M:
        """Create once per ``key`` (None: Sage Pro assigns it); a duplicate answers the stored
        record, never an error."""
        if key is not None:
            path_segment(key, system=self.system)  # the ids the GETs accept, or none at all
        try:
            response = await self.request("POST", collection, json=record.wire())
        except AlreadyDone as exc:
            existing = getattr(exc, "existing", None)
            if existing is not None:
                return type(record).model_validate(existing)
            stored = None if key is None else await self._get_one(collection, key, type(record))
            if stored is None:  # a duplicate nobody can read back: not ours to resolve
                raise SageProRecordError(
                    f"{collection}: {key!r} reported as duplicate but not found",
                    system=self.system,
                    status=exc.status,
                    code=exc.code,
                ) from None
            return stored
        return type(record).model_validate_json(response.content)

    async def _update(self, collection: str, key: str, changes: SageModel, model: type[M]) -> M:
        response = await self.request(
            "PUT",
            self._item(collection, key),
            endpoint=f"{collection}/{{id}}",
            json=changes.model_dump(mode="json", by_alias=True, exclude_unset=True),
        )
        return model.model_validate_json(response.content)

    async def _list(self, collection: str, model: type[M], params: dict[str, str]) -> list[M]:
        items: list[M] = []
        offset = 0
        while True:
            page = {**params, "limit": str(self._page_size), "offset": str(offset)}
            response = await self.request("GET", collection, params=page)
            body = orjson.loads(response.content)
            batch = body.get("items", [])
            items.extend(model.model_validate(item) for item in batch)
            offset += len(batch)
            if not batch or offset >= int(body.get("total", 0)):
                return items

    async def _by_ids(
        self, collection: str, id_filter: str, ids: Collection[str], model: type[M]
    ) -> list[M]:
        """The records of ``ids`` that exist: one call per ``IDS_PER_CALL`` ids (a repeated
        filter matches any of its values), instead of one GET each."""
        wanted = sorted(set(ids))
        found: list[M] = []
        for start in range(0, len(wanted), IDS_PER_CALL):
            chunk = wanted[start : start + IDS_PER_CALL]
            params = [(id_filter, key) for key in chunk]
            params += [("limit", str(len(chunk))), ("offset", "0")]
            response = await self.request(
                "GET", collection, params=params, endpoint=f"{collection}?{id_filter}"
            )
            found.extend(
                model.model_validate(item) for item in orjson.loads(response.content)["items"]
            )
        return found

    # --- customers, invoices, orders ---------------------------------------------------

    async def customers_by_id(self, customer_ids: Collection[str]) -> dict[str, Customer]:
        found = await self._by_ids("/api/customers", "CustomerID", customer_ids, Customer)
        return {c.customer_id: c for c in found if c.customer_id is not None}

    async def invoices_by_id(self, invoice_ids: Collection[str]) -> dict[str, Invoice]:
        found = await self._by_ids("/api/invoices", "InvoiceID", invoice_ids, Invoice)
        return {i.invoice_id: i for i in found if i.invoice_id is not None}

    async def get_customer(self, customer_id: str) -> Customer | None:
        return await self._get_one("/api/customers", customer_id, Customer)

    async def find_customers(
        self, *, email: str | None = None, name: str | None = None
    ) -> list[Customer]:
        return await self._list("/api/customers", Customer, _params(Email=email, Name=name))

    async def create_customer(self, customer: Customer) -> Customer:
        return await self._create("/api/customers", customer.customer_id, customer)

    async def update_customer(self, customer_id: str, changes: CustomerUpdate) -> Customer:
        return await self._update("/api/customers", customer_id, changes, Customer)

    async def get_invoice(self, invoice_id: str) -> Invoice | None:
        return await self._get_one("/api/invoices", invoice_id, Invoice)

    async def list_invoices(
        self,
        *,
        customer_id: str | None = None,
        status: InvoiceStatus | None = None,
        order_number: str | None = None,
    ) -> list[Invoice]:
        params = _params(CustomerID=customer_id, Status=status, OrderNumber=order_number)
        return await self._list("/api/invoices", Invoice, params)

    async def create_invoice(self, invoice: Invoice) -> Invoice:
        return await self._create("/api/invoices", invoice.invoice_id, invoice)

    async def update_invoice(self, invoice_id: str, changes: InvoiceUpdate) -> Invoice:
        return await self._update("/api/invoices", invoice_id, changes, Invoice)

    async def get_order(self, order_number: str) -> Order | None:
        return await self._get_one("/api/orders", order_number, Order)

    async def list_orders(
        self, *, customer_id: str | None = None, status: OrderStatus | None = None
    ) -> list[Order]:
        return await self._list(
            "/api/orders", Order, _params(CustomerID=customer_id, Status=status)
        )

    async def create_order(self, order: Order) -> Order:
        return await self._create("/api/orders", order.order_number, order)

    async def update_order(self, order_number: str, changes: OrderUpdate) -> Order:
        return await self._update("/api/orders", order_number, changes, Order)

    # --- payments and the ledger -------------------------------------------------------

    async def post_payment(self, payment: Payment) -> Payment:
        """Post once per PaymentReference; a repeat returns the payment already stored."""
        stored = await self._create("/api/payments", payment.payment_reference, payment)
        if (stored.amount, stored.customer_id) != (payment.amount, payment.customer_id):
            # Same reference, different money: not a retry. Still the stored one wins (the
            # ledger cannot hold two), but say so: a reconciler should look at it.
            log.warning(
                "sagepro: payment %s already stored with amount %s for %s; sent %s for %s",
                payment.payment_reference,
                stored.amount,
                stored.customer_id,
                payment.amount,
                payment.customer_id,
            )
        return stored

    async def get_payment(self, payment_reference: str) -> Payment | None:
        return await self._get_one("/api/payments", payment_reference, Payment)

    async def list_payments(
        self,
        *,
        customer_id: str | None = None,
        invoice_id: str | None = None,
        status: PaymentStatus | None = None,
        needs_review: bool | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[Payment]:
        params = _params(
            CustomerID=customer_id,
            InvoiceID=invoice_id,
            PaymentStatus=status,
            NeedsReview=needs_review,
            FromDate=from_date,
            ToDate=to_date,
        )
        return await self._list("/api/payments", Payment, params)

    async def post_journal_entry(self, entry: JournalEntry) -> JournalEntry:
        """Post once per Reference; a repeat returns the entry already stored."""
        return await self._create("/api/journalentries", entry.reference, entry)

    async def get_journal_entry(self, reference: str) -> JournalEntry | None:
        return await self._get_one("/api/journalentries", reference, JournalEntry)

    async def list_journal_entries(
        self,
        *,
        reference: str | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
    ) -> list[JournalEntry]:
        params = _params(Reference=reference, FromDate=from_date, ToDate=to_date)
        return await self._list("/api/journalentries", JournalEntry, params)

    async def post_credit_memo(self, memo: CreditMemo) -> CreditMemo:
        return await self._create("/api/creditmemos", memo.reference, memo)

    async def get_credit_memo(self, reference: str) -> CreditMemo | None:
        return await self._get_one("/api/creditmemos", reference, CreditMemo)

    async def list_credit_memos(self, *, invoice_id: str | None = None) -> list[CreditMemo]:
        return await self._list("/api/creditmemos", CreditMemo, _params(InvoiceID=invoice_id))

    async def get_gl_accounts(self) -> list[GLAccount]:
        return await self._list("/api/glaccounts", GLAccount, {})
