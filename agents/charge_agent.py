"""Sink agent: charge commands -> exactly one PayTrace sale per business event.

The ledger (a Faust table) holds each key PENDING -> DONE / DECLINED / NO_PAYMENT_METHOD /
FAILED. PENDING is made durable *before* the sale is sent; a key found PENDING (a crash, or
an answer lost on the wire) is resolved by asking PayTrace whether a sale carrying the
record's id as invoice_id exists, and only charged when none does. Hard declines are final.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import faust
from faust.types import TableT
from pydantic import ValidationError

from agents.charge_outcomes import OUTCOME_LABEL, ensure_erp_invoice, write_back
from agents.context import PipelineContext
from agents.deadletter import dead_letter, from_event
from agents.delivery import until_delivered
from connectors.base.errors import Action, ConnectorError
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import TransactionResult
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream import metrics

log = logging.getLogger(__name__)
AGENT = "charge_agent"
LOOKBACK = timedelta(days=2)
CUSTOMER_NOT_FOUND = "30"  # PayTrace error key: the vault has no such customer
PENDING_GAUGE_SECONDS = 5.0


class ChargeProblem(Exception):
    """The command cannot be charged as it stands (no amount, unknown record)."""


class Charger:
    def __init__(self, ctx: PipelineContext, ledger: TableT[Any, Any]) -> None:
        self.ctx = ctx
        self.ledger = ledger
        self._paytrace: PayTraceClient | None = None

    def paytrace(self) -> PayTraceClient:
        # Never resend a sale on its own: an unanswered sale is resolved via the export.
        if self._paytrace is None:
            self._paytrace = PayTraceClient.from_settings(
                self.ctx.connectors.paytrace_settings, retry_money_movement=False
            )
        return self._paytrace

    async def aclose(self) -> None:
        if self._paytrace is not None:
            await self._paytrace.aclose()

    def entry(self, key: str) -> LedgerEntry | None:
        raw = self.ledger.get(key.encode())
        return LedgerEntry.model_validate_json(raw) if raw else None

    async def record(self, entry: LedgerEntry) -> None:
        """Store and make durable before anything else happens."""
        self.ledger[entry.key.encode()] = entry.model_dump_json()
        await self.ctx.app.producer.flush()

    async def details(self, command: ChargeCommand) -> tuple[dict[str, Any], Decimal, str | None]:
        collection = self.ctx.mapping.collection
        salesforce = self.ctx.connectors.salesforce()
        record = await salesforce.get(command.object, command.record_id)
        if record is None:
            raise ChargeProblem(f"{command.object} {command.record_id} does not exist")
        field = collection.amount_fields.get(command.object)
        try:
            amount = Decimal(str(record.get(field or ""))).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError) as exc:
            raise ChargeProblem(f"{command.object}.{field} holds no amount") from exc
        if amount <= 0:
            raise ChargeProblem(f"{command.object}.{field} is {amount}: nothing to charge")
        vault_id = None
        account_id = record.get(collection.account_field)
        if account_id:
            account = await salesforce.get("Account", str(account_id))
            vault_id = (account or {}).get(collection.vault_id_field) or None
        return record, amount, vault_id

    async def existing_sale(self, command: ChargeCommand) -> TransactionResult | None:
        """A sale PayTrace already holds for this record (the reference travels as invoice_id)."""
        today = datetime.now(UTC).date()
        found = await self.paytrace().export_by_date_range(
            today - LOOKBACK, today + timedelta(days=1), invoice_id=command.record_id
        )
        sales = [t for t in found if str(t.transaction_type) == "SALE"]
        if not sales:
            return None
        sale = min(sales, key=lambda t: t.transaction_id)
        status = (sale.status or "").upper()
        code = 102 if status in ("DECLINED", "AUTO_VOIDED") else 101
        return TransactionResult(
            success=code == 101,
            response_code=code,
            status_message=f"found in the export ({status})",
            transaction_id=sale.transaction_id,
        )

    def description(self, record: dict[str, Any]) -> str | None:
        template = self.ctx.mapping.to_paytrace.get("description")
        if not template:
            return None
        values = {
            name: str(record.get(f"{name}__c") or "") for name in self.ctx.mapping.custom_fields
        }
        return template.format(**values)

    async def charge(
        self, command: ChargeCommand, amount: Decimal, vault_id: str, record: dict[str, Any]
    ) -> TransactionResult:
        existing = await self.existing_sale(command)
        if existing is not None:
            log.info(
                "%s: %s already charged in PayTrace (%s)",
                AGENT,
                command.key,
                existing.transaction_id,
            )
            return existing
        extra: dict[str, Any] = {}
        description = self.description(record)
        if description:
            extra["description"] = description
        try:
            return await self.paytrace().sale_by_customer(
                vault_id,
                amount,
                command.record_id,
                customer_reference_id=command.record_id,
                **extra,
            )
        except ConnectorError as exc:
            if exc.action is Action.DEAD_LETTER:
                raise
            # The sale may or may not have happened: the next attempt asks the export first.
            raise ConnectorError(
                f"sale for {command.key} unanswered: {exc}", system="paytrace", action=Action.RETRY
            ) from exc

    async def handle(self, command: ChargeCommand) -> None:
        entry = self.entry(command.key)
        if entry is not None and entry.final:
            metrics.CHARGES.labels("duplicate").inc()
            if not entry.written_back:
                record, _, _ = await self.details(command)
                await self.finish(command, entry, record)
            return
        now = datetime.now(UTC)
        try:
            record, amount, vault_id = await self.details(command)
        except ChargeProblem as exc:
            await self.finish(
                command,
                LedgerEntry(
                    key=command.key, state=LedgerState.FAILED, detail=str(exc), updated_at=now
                ),
                {},
            )
            return
        if vault_id is None:
            detail = "payment method required: the Account has no PayTrace vault id"
            await self.finish(
                command,
                LedgerEntry(
                    key=command.key,
                    state=LedgerState.NO_PAYMENT_METHOD,
                    detail=detail,
                    updated_at=now,
                ),
                record,
            )
            return
        await ensure_erp_invoice(self.ctx, command, str(vault_id), amount)
        if entry is None:
            await self.record(
                LedgerEntry(
                    key=command.key, state=LedgerState.PENDING, amount=str(amount), updated_at=now
                )
            )
        try:
            result = await until_delivered(
                lambda: self.charge(command, amount, str(vault_id), record),
                agent=AGENT,
                what=f"charge {command.key}",
            )
        except ConnectorError as exc:
            if exc.system != "paytrace" or exc.code != CUSTOMER_NOT_FOUND:
                raise
            detail = f"payment method required: PayTrace has no vault customer {vault_id}"
            entry = LedgerEntry(
                key=command.key, state=LedgerState.NO_PAYMENT_METHOD, detail=detail, updated_at=now
            )
            await self.finish(command, entry, record)
            return
        state = LedgerState.DONE if result.approved else LedgerState.DECLINED
        detail = f"PayTrace {result.response_code}: {result.status_message}"
        final = LedgerEntry(
            key=command.key,
            state=state,
            transaction_id=result.transaction_id,
            amount=str(amount),
            detail=detail,
            updated_at=datetime.now(UTC),
        )
        await self.finish(command, final, record)

    async def finish(
        self, command: ChargeCommand, entry: LedgerEntry, record: dict[str, Any]
    ) -> None:
        await self.record(entry)
        metrics.CHARGES.labels(OUTCOME_LABEL[entry.state]).inc()
        # An audit line per business event: ids and outcome only, never card data.
        log.info("%s: %s %s %s", AGENT, command.key, entry.state.value, entry.transaction_id or "")
        await until_delivered(
            lambda: write_back(self.ctx, command, entry, record),
            agent=AGENT,
            what=f"outcome of {command.key}",
        )
        await self.record(entry.model_copy(update={"written_back": True}))


def pending_summary(values: Iterable[str], now: datetime) -> tuple[int, float]:
    """How many ledger entries are PENDING, and the age in seconds of the oldest."""
    count, oldest = 0, 0.0
    for raw in values:
        if '"state":"PENDING"' not in raw:  # skip parsing the (many) final entries
            continue
        entry = LedgerEntry.model_validate_json(raw)
        count += 1
        oldest = max(oldest, (now - entry.updated_at).total_seconds())
    return count, oldest


def register(ctx: PipelineContext) -> Any:
    ledger = ctx.app.Table(
        "charge-ledger",
        default=str,
        key_type=bytes,  # raw, as on the commands topic, so both hash to the same partition
        value_type=str,
        partitions=ctx.kafka.partitions,
        use_partitioner=True,
    )
    charger = Charger(ctx, ledger)
    dlq = ctx.topic("deadletter")
    ctx.closers.append(charger.aclose)

    # On a timer, not on every write: one pass over this worker's ledger partitions.
    @ctx.app.timer(PENDING_GAUGE_SECONDS, name="charge_ledger_pending")
    async def measure_pending() -> None:
        count, oldest = pending_summary(list(ledger.values()), datetime.now(UTC))
        metrics.LEDGER_PENDING.set(count)
        metrics.LEDGER_OLDEST_PENDING.set(oldest)

    async def charges(stream: faust.StreamT[Any]) -> None:
        async for event in stream.events():
            metrics.EVENTS_IN.labels(AGENT).inc()
            try:
                command = ChargeCommand.model_validate_json(event.value)
                await charger.handle(command)
            except ValidationError as exc:
                await dead_letter(
                    dlq, agent=AGENT, reason="malformed", error=str(exc), **from_event(event)
                )
            except ConnectorError as exc:  # only record-level errors get here
                await dead_letter(
                    dlq, agent=AGENT, reason=exc.reason, error=str(exc), **from_event(event)
                )
            else:
                metrics.EVENTS_OUT.labels(AGENT).inc()

    return ctx.app.agent(ctx.topic("charge_commands"), name=AGENT)(charges)
