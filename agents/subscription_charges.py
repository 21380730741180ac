"""The charge agent's path for subscription periods: the same ledger, the same PENDING-first
rule and export look-up, one key per period and attempt (stream/billing/state.py).

PayTrace carries the period's invoice reference ``<subscription id>-<yyyymmdd>`` as invoice_id
(the Sage Pro invoice the payment is applied to, and the export look-up), the subscription id as
customer_reference_id (so the poller links ``Payment__c`` to it) and the attempt's key in the
description (so a lost answer is found again for this attempt, not an earlier declined one).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from agents.charge_outcomes import WriteBack, sale_from_export
from agents.subscription_outcomes import write_back
from connectors.base.errors import RecordError
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import TransactionResult
from connectors.sagepro.models import Customer, Invoice
from connectors.salesforce.ids import KEY_PREFIXES, is_valid_id
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream.billing import metrics as billing_metrics
from stream.billing.clock import Clock
from stream.billing.state import NotBillable, Subscription, parse_key
from stream.context import PipelineContext
from stream.pci import redact_text
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.sink import Item


class ChargeAgent(Protocol):
    """What this path uses of the charge agent (agents/charge_agent.py): its ledger and
    clients. A protocol, not an import: the agent imports this module."""

    name: str
    ctx: PipelineContext

    def entry(self, key: str) -> LedgerEntry | None: ...
    async def record(self, entry: LedgerEntry) -> None: ...
    async def forget(self, key: str) -> None: ...
    def paytrace(self) -> PayTraceClient: ...
    async def read(self, obj: str, record_id: str) -> dict[str, Any] | None: ...
    async def enqueue(self, key: str, planned: WriteBack | None, entry: LedgerEntry) -> None: ...


log = logging.getLogger(__name__)
SUBSCRIPTION = "Subscription"
LOOKBACK = timedelta(days=2)
MAX_DETAIL_CHARS = 500
CLOCK = (
    Clock()
)  # the billing clock (PAYSTREAM_CLOCK_*): where the schedule resumes after a suspension


def invoice_reference(subscription_id: str, period: date) -> str:
    return f"{subscription_id}-{period:%Y%m%d}"


def attempt_marker(key: str) -> str:
    return f"subscription={key}"


def confirmed_key(command: ChargeCommand, kafka_key: bytes | None, obj: str) -> tuple[date, int]:
    """(period, attempt) of a command shaped as the scheduler makes them; else Rejected."""
    parsed = parse_key(command.key)
    prefix = KEY_PREFIXES.get(obj, "")
    if (
        parsed is None
        or parsed[0] != command.record_id
        or not is_valid_id(command.record_id)
        or not command.record_id.startswith(prefix)
        or kafka_key != command.key.encode()
    ):
        raise Rejected("charge_refused:malformed_key", f"{command.key[:80]!r} is no period key")
    return parsed[1], parsed[2]


async def charge_subscription(agent: ChargeAgent, item: Item[ChargeCommand]) -> None:
    command = item.value
    m = agent.ctx.mapping.subscriptions
    period, attempt = confirmed_key(command, item.record.key, m.object)
    entry = agent.entry(command.key)
    if entry is not None and entry.final:
        if item.attempts == 0:  # a resend or replay: expected of a scheduler, counted apart
            billing_metrics.PERIODS.labels("duplicate").inc()
        if not entry.written_back:
            await finish(agent, command, entry, await agent.read(m.object, command.record_id))
        return
    record = await agent.read(m.object, command.record_id)
    if entry is not None:  # PENDING: an earlier attempt may have made the sale
        found = await existing_sale(agent, command, period)
        if found is not None:
            await concluded(agent, command, found, Decimal(entry.amount or 0), record)
            return
    try:
        if record is None:
            raise NotBillable("the subscription does not exist")
        sub = Subscription.from_record(command.record_id, record, m)
    except NotBillable as exc:
        if entry is not None:
            await agent.forget(command.key)
        raise Rejected("subscription_not_billable", str(exc)) from exc
    try:
        wanted = sub.wants(period, attempt)
    except (ValueError, OverflowError) as exc:  # a schedule past the calendar's end
        raise Rejected("subscription_not_billable", str(exc)[:200]) from exc
    if not wanted:
        # Stale (a cancellation, a paid period, a later attempt): nothing to do by design.
        if entry is not None:
            await agent.forget(command.key)
        raise Ignored("not_current")
    if sub.vault_id is None:
        no_card = _ledger(command.key, LedgerState.NO_PAYMENT_METHOD, "no PayTrace vault id")
        await finish(agent, command, no_card, record)
        return
    # The period's price is its invoice's: a retry after an amount change charges what was
    # invoiced, and the change applies from the next period.
    amount = await ensure_period_invoice(agent, sub, period)
    if entry is None or entry.amount != str(amount):
        await agent.record(_ledger(command.key, LedgerState.PENDING, "", amount=str(amount)))
    if entry is None:  # a lost ledger: PayTrace may hold the sale all the same
        found = await existing_sale(agent, command, period)
        if found is not None:
            await concluded(agent, command, found, amount, record)
            return
    try:
        result = await agent.paytrace().sale_by_customer(
            sub.vault_id,
            amount,
            invoice_reference(sub.id, period),
            customer_reference_id=sub.id,
            description=attempt_marker(command.key),
        )
    except RecordError as exc:
        if exc.system != "paytrace":
            raise
        state = LedgerState.NO_PAYMENT_METHOD if exc.code == "30" else LedgerState.FAILED
        await finish(
            agent, command, _ledger(command.key, state, f"PayTrace refused: {exc}"), record
        )
        return
    await concluded(agent, command, result, amount, record)


async def card_summary(paytrace: PayTraceClient, vault_id: str) -> str | None:
    """The vault's card as a comparable text: masked number and expiry (no full number)."""
    customers = await paytrace.export_customers(vault_id)
    card = customers[0].credit_card if customers else None
    if card is None:
        return None
    return redact_text(f"{card.masked_number} {card.expiration_month}/{card.expiration_year}")


def _ledger(key: str, state: LedgerState, detail: str, **fields: Any) -> LedgerEntry:
    # Free text from PayTrace may echo a card number: never stored as is.
    text = redact_text(detail)[:MAX_DETAIL_CHARS]
    return LedgerEntry(key=key, state=state, detail=text, updated_at=datetime.now(UTC), **fields)


async def ensure_period_invoice(agent: ChargeAgent, sub: Subscription, period: date) -> Decimal:
    """The period's Sage Pro invoice, under the reference PayTrace carries (idempotent), and
    its total."""
    sage = agent.ctx.connectors.sagepro()
    customer = sub.vault_id or ""
    if await sage.get_customer(customer) is None:
        await sage.create_customer(
            Customer(customer_id=customer, name=f"Salesforce account ({customer})")
        )
    reference = invoice_reference(sub.id, period)
    existing = await sage.get_invoice(reference)
    if existing is not None:
        return Decimal(existing.total_amount).quantize(Decimal("0.01"))
    await sage.create_invoice(
        Invoice(
            invoice_id=reference,
            customer_id=customer,
            invoice_date=period,
            total_amount=sub.amount,
            memo=f"Subscription {sub.id} period {period.isoformat()}",
        )
    )
    return sub.amount


async def existing_sale(
    agent: ChargeAgent, command: ChargeCommand, period: date
) -> TransactionResult | None:
    """The sale this attempt made, if PayTrace holds one (found by invoice and marker)."""
    today = date.today()  # PayTrace stamps real days, whatever the billing clock says
    found = await agent.paytrace().export_by_date_range(
        today - LOOKBACK,
        today + timedelta(days=1),
        invoice_id=invoice_reference(command.record_id, period),
    )
    marker = attempt_marker(command.key)
    return sale_from_export(t for t in found if t.description == marker)


async def concluded(
    agent: ChargeAgent,
    command: ChargeCommand,
    result: TransactionResult,
    amount: Decimal,
    record: dict[str, Any] | None,
) -> None:
    state = LedgerState.DONE if result.approved else LedgerState.DECLINED
    detail = f"PayTrace {result.response_code}: {result.status_message} {result.approval_message}"
    final = _ledger(
        command.key, state, detail.strip(), transaction_id=result.transaction_id, amount=str(amount)
    )
    await finish(agent, command, final, record)


async def finish(
    agent: ChargeAgent, command: ChargeCommand, entry: LedgerEntry, record: dict[str, Any] | None
) -> None:
    """Record the final entry once, then hand Salesforce's write-back to the batch and count
    (resumable: the entry is recorded written back once the write is in)."""
    if agent.entry(command.key) != entry:
        await agent.record(entry)
        billing_metrics.count_outcome(entry)
        log.info(
            "%s: %s %s %s", agent.name, command.key, entry.state.value, entry.transaction_id or ""
        )
    planned = None
    if record is not None:
        m = agent.ctx.mapping.subscriptions
        card = None
        if entry.state is not LedgerState.DONE and record.get(m.fields.vault_id):
            card = await card_summary(agent.paytrace(), str(record[m.fields.vault_id]))
        today = CLOCK.today(m.time_zone)
        planned = await write_back(agent.ctx, command, entry, record, today, card, agent.read)
    await agent.enqueue(command.key, planned, entry)
