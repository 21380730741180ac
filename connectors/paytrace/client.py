"""PayTrace v1 JSON API client: OAuth password grant, typed requests and results.

Every call is a POST with a JSON body and a Bearer token. Declines and the other business
outcomes (102, 103, 107, 110, 113) come back as ``TransactionResult`` values; everything else
that fails raises ``ConnectorError`` classified by ``connectors.paytrace.errors``.

Retrying a money-moving call (sale, authorization, capture, refund) after a 5xx or a lost
connection can repeat it if PayTrace had processed the first attempt; callers that keep a
charge ledger reconcile through ``export_by_date_range`` (``invoice_id``) or pass
``retry_money_movement=False``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.base.errors import AlreadyDone, ConnectorError, RecordError
from connectors.base.retry import RetryPolicy
from connectors.paytrace.models import (
    API_DATE_FORMAT,
    Address,
    BatchExport,
    CaptureRequest,
    CreditCard,
    CustomerExport,
    CustomerRequest,
    CustomerResult,
    CustomerTransactionRequest,
    DateRangeRequest,
    ExportedBatch,
    ExportedCustomer,
    ExportedTransaction,
    KeyedTransactionRequest,
    RefundTransactionRequest,
    SettleResult,
    TransactionExport,
    TransactionResult,
    VoidRequest,
)
from connectors.paytrace.settings import PayTraceSettings
from connectors.paytrace.transport import PayTraceTransport, as_secret


def _address(value: Address | dict[str, Any] | None) -> Address | None:
    if value is None or isinstance(value, Address):
        return value
    return Address.model_validate(value)


class PayTraceClient(PayTraceTransport):
    """Every PayTrace endpoint paystream uses, as typed async methods."""

    @classmethod
    def from_settings(
        cls,
        settings: PayTraceSettings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_money_movement: bool = True,
    ) -> PayTraceClient:
        return cls(
            settings.base_url,
            settings.username,
            settings.password,
            integrator_id=settings.integrator_id,
            timezone=settings.timezone,
            timeout=settings.timeout,
            retry=retry,
            transport=transport,
            retry_money_movement=retry_money_movement,
        )

    # --- transactions ----------------------------------------------------------------------

    def _keyed_body(
        self,
        amount: Decimal | str,
        card_number: str | SecretStr,
        expiration_month: int,
        expiration_year: int,
        csc: str | SecretStr | None,
        billing_address: Address | dict[str, Any] | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        request = KeyedTransactionRequest(
            amount=Decimal(str(amount)),
            credit_card=CreditCard(
                number=as_secret(card_number),
                expiration_month=expiration_month,
                expiration_year=expiration_year,
            ),
            csc=None if csc is None else as_secret(csc),
            billing_address=_address(billing_address),
            **extra,
        )
        return self._with_integrator(request.api_body())

    def _customer_body(
        self,
        customer_id: str,
        amount: Decimal | str,
        invoice_id: str | None,
        csc: str | SecretStr | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        request = CustomerTransactionRequest(
            customer_id=customer_id,
            amount=Decimal(str(amount)),
            invoice_id=invoice_id,
            csc=None if csc is None else as_secret(csc),
            **extra,
        )
        return self._with_integrator(request.api_body())

    async def sale_keyed(
        self,
        amount: Decimal | str,
        card_number: str | SecretStr,
        expiration_month: int,
        expiration_year: int,
        *,
        csc: str | SecretStr | None = None,
        billing_address: Address | dict[str, Any] | None = None,
        **extra: Any,
    ) -> TransactionResult:
        body = self._keyed_body(
            amount, card_number, expiration_month, expiration_year, csc, billing_address, extra
        )
        return await self._post(
            "/v1/transactions/sale/keyed",
            body,
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def sale_by_customer(
        self,
        customer_id: str,
        amount: Decimal | str,
        invoice_id: str | None = None,
        *,
        csc: str | SecretStr | None = None,
        **extra: Any,
    ) -> TransactionResult:
        body = self._customer_body(customer_id, amount, invoice_id, csc, extra)
        return await self._post(
            "/v1/transactions/sale/by_customer",
            body,
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def authorize_keyed(
        self,
        amount: Decimal | str,
        card_number: str | SecretStr,
        expiration_month: int,
        expiration_year: int,
        *,
        csc: str | SecretStr | None = None,
        billing_address: Address | dict[str, Any] | None = None,
        **extra: Any,
    ) -> TransactionResult:
        body = self._keyed_body(
            amount, card_number, expiration_month, expiration_year, csc, billing_address, extra
        )
        return await self._post(
            "/v1/transactions/authorization/keyed",
            body,
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def authorize_by_customer(
        self,
        customer_id: str,
        amount: Decimal | str,
        invoice_id: str | None = None,
        *,
        csc: str | SecretStr | None = None,
        **extra: Any,
    ) -> TransactionResult:
        body = self._customer_body(customer_id, amount, invoice_id, csc, extra)
        return await self._post(
            "/v1/transactions/authorization/by_customer",
            body,
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def capture(
        self, transaction_id: int, amount: Decimal | str | None = None
    ) -> TransactionResult:
        request = CaptureRequest(
            transaction_id=transaction_id,
            amount=None if amount is None else Decimal(str(amount)),
        )
        return await self._post(
            "/v1/transactions/authorization/capture",
            self._with_integrator(request.api_body()),
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def void(self, transaction_id: int) -> TransactionResult:
        body = self._with_integrator(VoidRequest(transaction_id=transaction_id).api_body())
        return await self._post("/v1/transactions/void", body, TransactionResult)

    async def refund_for_transaction(
        self, transaction_id: int, amount: Decimal | str | None = None
    ) -> TransactionResult:
        request = RefundTransactionRequest(
            transaction_id=transaction_id,
            amount=None if amount is None else Decimal(str(amount)),
        )
        return await self._post(
            "/v1/transactions/refund/for_transaction",
            self._with_integrator(request.api_body()),
            TransactionResult,
            retry=self.retry_money_movement,
        )

    async def settle(self) -> SettleResult:
        """Close the open batch now (merchants on terminal-capture networks may; the rest
        settle automatically once a day). Not retried: a lost answer is read back from
        ``export_batches``."""
        body = self._with_integrator({})
        return await self._post("/v1/transactions/settle", body, SettleResult, retry=False)

    async def refund_keyed(
        self,
        amount: Decimal | str,
        card_number: str | SecretStr,
        expiration_month: int,
        expiration_year: int,
        *,
        csc: str | SecretStr | None = None,
        billing_address: Address | dict[str, Any] | None = None,
        **extra: Any,
    ) -> TransactionResult:
        body = self._keyed_body(
            amount, card_number, expiration_month, expiration_year, csc, billing_address, extra
        )
        return await self._post(
            "/v1/transactions/refund/keyed",
            body,
            TransactionResult,
            retry=self.retry_money_movement,
        )

    # --- customer vault --------------------------------------------------------------------

    async def create_customer(
        self,
        customer_id: str,
        card_number: str | SecretStr,
        expiration_month: int,
        expiration_year: int,
        *,
        csc: str | SecretStr | None = None,
        billing_address: Address | dict[str, Any] | None = None,
        **extra: Any,
    ) -> CustomerResult:
        """Vault a card. A duplicate customer id is an idempotent success (already_existed)."""
        request = CustomerRequest(
            customer_id=customer_id,
            credit_card=CreditCard(
                number=as_secret(card_number),
                expiration_month=expiration_month,
                expiration_year=expiration_year,
            ),
            csc=None if csc is None else as_secret(csc),
            billing_address=_address(billing_address),
            **extra,
        )
        try:
            return await self._post(
                "/v1/customer/create", self._with_integrator(request.api_body()), CustomerResult
            )
        except AlreadyDone as exc:  # resolved here: it never reaches the caller
            return CustomerResult(
                success=True,
                response_code=int(exc.code or 0),
                status_message=exc.message,
                customer_id=customer_id,
                already_existed=True,
            )

    async def update_customer(
        self,
        customer_id: str,
        *,
        card_number: str | SecretStr | None = None,
        expiration_month: int | None = None,
        expiration_year: int | None = None,
        billing_address: Address | dict[str, Any] | None = None,
        **extra: Any,
    ) -> CustomerResult:
        card = None
        if card_number is not None:
            if expiration_month is None or expiration_year is None:
                raise ValueError("a new card needs its expiration month and year")
            card = CreditCard(
                number=as_secret(card_number),
                expiration_month=expiration_month,
                expiration_year=expiration_year,
            )
        request = CustomerRequest(
            customer_id=customer_id,
            credit_card=card,
            billing_address=_address(billing_address),
            **extra,
        )
        return await self._post(
            "/v1/customer/update", self._with_integrator(request.api_body()), CustomerResult
        )

    async def delete_customer(
        self, customer_id: str, *, missing_ok: bool = False
    ) -> CustomerResult:
        try:
            return await self._post(
                "/v1/customer/delete", {"customer_id": customer_id}, CustomerResult
            )
        except ConnectorError as exc:
            if not (missing_ok and exc.code == "30"):
                raise
            return CustomerResult(
                success=True,
                response_code=30,
                status_message=exc.message,
                customer_id=customer_id,
            )

    async def export_customers(
        self, customer_id: str | None = None, **filters: Any
    ) -> list[ExportedCustomer]:
        body = {"customer_id": customer_id, **filters} if customer_id else dict(filters)
        export = await self._post("/v1/customer/export", body, CustomerExport)
        return export.customers

    # --- exports ---------------------------------------------------------------------------

    async def export_by_id(self, transaction_id: int | str) -> ExportedTransaction | None:
        """The transaction as exports show it now; None when PayTrace does not know the id.

        Ids from records arrive as text: one that is not a number is refused (RecordError,
        ``paytrace:invalid_id``) before any call, not turned into a ValueError by ``int()``.
        """
        text = str(transaction_id).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise RecordError(
                f"transaction id {text[:40]!r} is not a PayTrace transaction id",
                system=self.system,
                code="invalid_id",
            )
        try:
            export = await self._post(
                "/v1/transactions/export/by_id",
                {"transaction_id": int(text)},
                TransactionExport,
            )
        except ConnectorError as exc:
            if exc.code == "58":
                return None
            raise
        return export.transactions[0] if export.transactions else None

    async def export_by_date_range(
        self, start: date, end: date, **filters: Any
    ) -> list[ExportedTransaction]:
        """Transactions created on whole local days ``start``..``end`` (inclusive)."""
        if end < start:
            raise ValueError("end date is before start date")
        request = DateRangeRequest(
            start_date=start.strftime(API_DATE_FORMAT),
            end_date=end.strftime(API_DATE_FORMAT),
            **filters,
        )
        export = await self._post(
            "/v1/transactions/export/by_date_range", request.api_body(), TransactionExport
        )
        return export.transactions

    async def export_batches(
        self,
        start: date | None = None,
        end: date | None = None,
        *,
        batch_number: int | None = None,
    ) -> list[ExportedBatch]:
        """Settled batches (by settlement day, or one batch) with totals and transactions."""
        body: dict[str, Any] = {}
        if start is not None:
            body["start_date"] = start.strftime(API_DATE_FORMAT)
            body["end_date"] = (end or start).strftime(API_DATE_FORMAT)
        if batch_number is not None:
            body["batch_number"] = batch_number
        export = await self._post("/v1/batches/export", body, BatchExport)
        return export.batches
