"""Sink agent: canonical payments -> Sage Pro payments and journal entries.

Postings are idempotent by reference (PaymentReference / journal Reference), so a replay after
a crash re-posts nothing. Everything is validated before the first call for a record. A record
replayed for Salesforce only (header ``paystream-replay-sink: salesforce``) is acknowledged
without a call.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from agents.delivery import until_delivered
from agents.paytrace_source import record_payload
from connectors.base.errors import Action, ConnectorError
from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.models import Customer
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.payment import Payment
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.replay_plan import sink_skips
from stream.to_sagepro import Posting, journal_entry, plan
from stream.transform import InvalidRecord, to_payment

AGENT = "sagepro_payment_sink"
SINK = "sagepro"  # the name `paystream replay payments --sink` uses
CONCURRENCY = 8


class UnknownGLAccount(ValueError):
    pass


class SageProWriter:
    """Posts one payment's postings; knows the chart of accounts and fallback customer."""

    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self._gl_accounts: set[str] | None = None
        self._unmatched_ready = False
        self._invoice_customers: OrderedDict[str, str] = OrderedDict()

    @property
    def sage(self) -> SageProBackend:
        return self.ctx.connectors.sagepro()

    async def gl_accounts(self) -> set[str]:
        if self._gl_accounts is None:
            accounts = await self.sage.get_gl_accounts()
            self._gl_accounts = {a.gl_account_id for a in accounts if a.active}
        return self._gl_accounts

    async def invoice_customer(self, invoice_id: str) -> str | None:
        """The invoice's customer, or None when Sage Pro has no such invoice."""
        if invoice_id in self._invoice_customers:
            return self._invoice_customers[invoice_id]
        invoice = await self.sage.get_invoice(invoice_id)
        if invoice is None:
            return None  # not cached: the invoice may be created later
        self._invoice_customers[invoice_id] = invoice.customer_id
        if len(self._invoice_customers) > 10_000:
            self._invoice_customers.popitem(last=False)
        return invoice.customer_id

    async def customer_for(self, payment: Payment) -> str:
        vault_id = payment.references.erp_customer_id
        if vault_id and await self.sage.get_customer(vault_id) is not None:
            return vault_id
        fallback = self.ctx.mapping.sagepro.unmatched_customer_id
        if not self._unmatched_ready:
            existing = await self.sage.get_customer(fallback)
            if existing is None:
                await self.sage.create_customer(
                    Customer(customer_id=fallback, name="Unmatched PayTrace payments")
                )
            self._unmatched_ready = True
        return fallback

    async def postings(self, payment: Payment) -> list[Posting]:
        invoice_id = payment.references.erp_invoice_id
        invoice_customer = await self.invoice_customer(invoice_id) if invoice_id else None
        customer = invoice_customer or await self.customer_for(payment)
        postings = plan(
            payment,
            self.ctx.mapping,
            customer_id=customer,
            invoice_id=invoice_id if invoice_customer is not None else None,
        )
        known = await self.gl_accounts()
        for posting in postings:
            missing = posting.accounts(self.unapplied_account) - known
            if missing:
                raise UnknownGLAccount(f"GL account(s) {', '.join(sorted(missing))} do not exist")
        return postings

    @property
    def unapplied_account(self) -> str:
        return self.ctx.mapping.sagepro.gl_accounts["on_account"].credit

    async def original_posted(self, posting: Posting) -> None:
        """A refund names its sale, which travels on another key and may not be posted yet.

        Waiting for it would stall this agent (and with it the sale's own partition), so the
        sale is fetched from PayTrace, the source of truth, and posted first. Its own event
        finds it there later: an idempotent no-op.
        """
        original = posting.payment.original_payment_reference
        if posting.payment.payment_status is not SageStatus.REFUNDED or not original:
            return
        if await self.sage.get_payment(original) is not None:
            return
        record = await self.ctx.connectors.paytrace().export_by_id(int(original))
        if record is None:
            raise ConnectorError(
                f"refund {posting.payment.payment_reference}: PayTrace has no transaction "
                f"{original} to refund",
                system="paytrace",
                code="ORIGINAL_NOT_FOUND",
                action=Action.DEAD_LETTER,
            )
        raw = RawPayTraceTransaction(
            source="poll",
            fetched_at=datetime.now(UTC),
            merchant_timezone=str(self.ctx.connectors.paytrace_settings.zone),
            record=record_payload(record),
        )
        await self.write(to_payment(raw, self.ctx.mapping))

    async def write(self, payment: Payment) -> None:
        for posting in await self.postings(payment):
            await self.original_posted(posting)
            stored = await self.sage.post_payment(posting.payment)
            if posting.rule is not None:
                entry = journal_entry(stored, posting.rule, self.unapplied_account)
                await self.sage.post_journal_entry(entry)


def register(ctx: PipelineContext) -> Any:
    writer = SageProWriter(ctx)
    dlq = ctx.topic("deadletter")
    limit = asyncio.Semaphore(CONCURRENCY)

    async def handle(events: list[faust.EventT]) -> None:
        """One key's events in order (later states depend on earlier postings)."""
        for event in events:
            async with limit:
                await handle_one(event)

    async def handle_one(event: faust.EventT) -> None:
        metrics.EVENTS_IN.labels(AGENT).inc()
        if sink_skips(SINK, event.headers):
            return  # replayed for Salesforce only: acknowledged with the batch, no call
        try:
            payment = Payment.model_validate_json(event.value)
            await until_delivered(
                lambda: writer.write(payment), agent=AGENT, what=f"payment {payment.transaction_id}"
            )
        except ValidationError as exc:
            await dead_letter(
                dlq, agent=AGENT, reason="malformed", error=str(exc), **from_event(event)
            )
        except UnknownGLAccount as exc:
            await dead_letter(
                dlq, agent=AGENT, reason="unknown_gl_account", error=str(exc), **from_event(event)
            )
        except InvalidRecord as exc:  # the refunded sale, fetched from PayTrace, was unusable
            await dead_letter(
                dlq, agent=AGENT, reason=exc.reason, error=str(exc), **from_event(event)
            )
        except ConnectorError as exc:
            if exc.action is Action.IDEMPOTENT_SUCCESS:
                metrics.EVENTS_OUT.labels(AGENT).inc()
                return
            await dead_letter(
                dlq, agent=AGENT, reason=exc.reason, error=str(exc), **from_event(event)
            )
        else:
            metrics.EVENTS_OUT.labels(AGENT).inc()

    async def sink(stream: faust.StreamT[Any]) -> None:
        # take_events is faust-streaming's, missing from its StreamT stub.
        async for batch in stream.take_events(  # type: ignore[attr-defined]
            ctx.worker.sink_batch_size, ctx.worker.sink_batch_seconds
        ):
            started = time.perf_counter()
            metrics.SINK_BATCH_SIZE.labels(AGENT).observe(len(batch))
            by_key: dict[bytes | None, list[faust.EventT]] = {}
            for event in batch:
                by_key.setdefault(event.key, []).append(event)
            await asyncio.gather(*(handle(events) for events in by_key.values()))
            metrics.PROCESSING_SECONDS.labels(AGENT).observe(time.perf_counter() - started)

    return ctx.app.agent(ctx.topic("payments"), name=AGENT)(sink)
