"""Sink flow: charge commands -> exactly one PayTrace sale per business event.

The ledger (a Faust table) holds each key PENDING -> DONE / DECLINED / NO_PAYMENT_METHOD /
FAILED. PENDING is made durable *before* the sale is sent; a key found PENDING (a crash, or
an answer lost on the wire) is resolved by asking PayTrace whether a sale carrying the
record's id as invoice_id exists, and only charged when none does. Hard declines are final.

A command only asks: before money moves, the trigger is confirmed from Salesforce's current
record (agents/charge_trigger.py). A refused command is dead-lettered and counted, and leaves
no ledger entry, so a forged command cannot take the key a real trigger will use later; only
a confirmed trigger with nothing to charge is recorded FAILED (and told to Salesforce).

Every path ends in an outcome the runtime settles by type; a retriable failure is attempted
again by the runtime (held during an outage, dead-lettered after the retry budget), and the
ledger makes each attempt resume where the last one stopped.

Salesforce is called per batch, not per command: ``write`` reads the batch's records with one
SOQL per object (``Id IN (...)``, their Accounts' vault ids included), charges the commands
one at a time in order, then sends every write-back together: one sObject Collections update,
and Tasks/Cases in one Collections create (agents/charge_outcomes.py ``Outbox``). A record's
failure in those answers is its command's result alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from agents.charge_outcomes import (
    OUTCOME_LABEL,
    Outbox,
    Reads,
    WriteBack,
    charge_fields,
    ensure_erp_invoice,
    ledger_entry,
    pending_summary,
    sale_from_export,
    write_back,
)
from agents.charge_trigger import ChargeRefused, confirm_current, confirmed_rule
from agents.subscription_charges import SUBSCRIPTION, charge_subscription, confirmed_key
from connectors.base.errors import RecordError
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import TransactionResult
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream import metrics
from stream.runtime.dispositions import Do, dispose
from stream.runtime.outcomes import DELIVERED, Failed, Rejected, Result
from stream.runtime.sink import BatchSink, Item

log = logging.getLogger(__name__)
LOOKBACK = timedelta(days=2)
CUSTOMER_NOT_FOUND = "30"  # PayTrace error key: the vault has no such customer
PENDING_GAUGE_SECONDS = 5.0


class ChargeAgent(BatchSink[ChargeCommand]):
    model = ChargeCommand
    ignored_reasons = ("not_current",)  # a subscription command the record no longer asks for
    # One command at a time: a key's ledger read, PENDING flush and sale must not interleave
    # with another command for the same record (two triggers share the export look-up).
    concurrency: ClassVar[int] = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = self.table("charge-ledger")
        self._paytrace: PayTraceClient | None = None
        self._outbox = Outbox()
        self._reads = Reads()
        self._position = 0  # the command being written, in its batch

    def attach(self) -> None:
        super().attach()
        # On a timer, not on every write: one pass over this worker's ledger partitions.
        self.every(PENDING_GAUGE_SECONDS, self.measure_pending, name="charge_ledger_pending")

    async def measure_pending(self) -> None:
        count, oldest = pending_summary(list(self.ledger.values()), datetime.now(UTC))
        metrics.LEDGER_PENDING.set(count)
        metrics.LEDGER_OLDEST_PENDING.set(oldest)

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
            self._paytrace = None

    # -- the ledger ----------------------------------------------------------------------
    def entry(self, key: str) -> LedgerEntry | None:
        raw = self.ledger.get(key.encode())
        return LedgerEntry.model_validate_json(raw) if raw else None

    async def record(self, entry: LedgerEntry) -> None:
        """Store and make durable before anything else happens."""
        self.ledger[entry.key.encode()] = entry.model_dump_json()
        await self.ctx.app.producer.flush()

    async def forget(self, key: str) -> None:
        """Free a PENDING key no sale was made for, so a later real trigger may use it."""
        if key.encode() in self.ledger:
            del self.ledger[key.encode()]  # a tombstone on the changelog
        await self.ctx.app.producer.flush()

    # -- a batch -------------------------------------------------------------------------
    async def write(self, batch: list[Item[ChargeCommand]]) -> list[Result]:
        results: list[Result] = [DELIVERED] * len(batch)
        held: dict[bytes | None, BaseException] = {}
        self._outbox = Outbox()
        await self.prefetch(batch)
        for position, item in enumerate(batch):
            key = item.record.key
            if key in held:  # a later command of a key waits for the earlier one it builds on
                results[position] = Failed(held[key])
                continue
            obj = self.sobject(item.value)
            if self._outbox.touches(obj, item.value.record_id, item.value.key):
                await self.flush(results)  # its record changes first; then it is read again
                self._reads.forget(obj, item.value.record_id)
            self._position = position
            try:
                await self.write_one(item)
            except Exception as exc:
                results[position] = Failed(exc)
                if dispose(exc).do is Do.RETRY:
                    held[key] = exc
        await self.flush(results)
        self._reads.clear()
        return results

    async def flush(self, results: list[Result]) -> None:
        """Send the waiting write-backs; a failed one is its commands' result."""
        for position, error in (await self._outbox.flush(self.ctx.connectors.salesforce())).items():
            results[position] = Failed(error)

    def sobject(self, command: ChargeCommand) -> str:
        subscriptions = command.object == SUBSCRIPTION
        return self.ctx.mapping.subscriptions.object if subscriptions else command.object

    def wanted(self, item: Item[ChargeCommand]) -> str | None:
        """The object to read for this command, when it is well formed and not done."""
        command = item.value
        try:
            if command.object == SUBSCRIPTION:
                confirmed_key(command, item.record.key, self.ctx.mapping.subscriptions.object)
            else:
                confirmed_rule(command, item.record.key, self.ctx.mapping.collection)
        except Rejected:
            return None  # refused before any read, as before
        entry = self.entry(command.key)
        if entry is not None and entry.written_back:
            return None
        return self.sobject(command)

    async def prefetch(self, batch: list[Item[ChargeCommand]]) -> None:
        """One SOQL per object for the batch's records and their Accounts' fields."""
        self._reads.clear()
        salesforce, subscriptions = self.ctx.connectors.salesforce(), self.ctx.mapping.subscriptions
        ids: dict[str, list[str]] = {}
        for item in batch:
            obj = self.wanted(item)
            if obj is not None and item.value.record_id not in ids.setdefault(obj, []):
                ids[obj].append(item.value.record_id)
        collection = self.ctx.mapping.collection
        for obj, wanted in ids.items():
            if obj == subscriptions.object:  # the Account's owner: a dunning Task's assignee
                fields = {"Id", *subscriptions.fields.model_dump().values()}, set[str]()
                account = (subscriptions.fields.account, {"Id", "OwnerId"})
            else:
                fields = charge_fields(self.ctx, obj)
                account = (collection.account_field, {"Id", "OwnerId", collection.vault_id_field})
            await self._reads.select(salesforce, obj, wanted, fields, account)

    async def read(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """The record as this batch read it, or (not read yet) as Salesforce holds it now."""
        return await self._reads.read(self.ctx.connectors.salesforce(), obj, record_id)

    async def enqueue(self, key: str, planned: WriteBack | None, entry: LedgerEntry) -> None:
        """Hand a final entry's write-back to the batch's outbox (the entry is recorded
        written back once it is in); with nothing to write, it is written back now."""
        written = entry.model_copy(update={"written_back": True})

        async def done() -> None:
            await self.record(written)

        if planned is None:
            await done()
        else:
            self._outbox.add(key, planned, done, self._position)

    # -- one command ---------------------------------------------------------------------
    async def write_one(self, item: Item[ChargeCommand]) -> None:
        try:
            await self.charge_command(item)
        except ChargeRefused as exc:
            metrics.CHARGES_REFUSED.labels(exc.refusal).inc()
            raise

    async def charge_command(self, item: Item[ChargeCommand]) -> None:
        command = item.value
        if command.object == SUBSCRIPTION:  # a recurring period: same ledger, its own rules
            await charge_subscription(self, item)
            return
        collection = self.ctx.mapping.collection
        rule = confirmed_rule(command, item.record.key, collection)  # before any state
        entry = self.entry(command.key)
        if entry is not None and entry.final:
            if item.attempts == 0:  # a runtime retry of our own write-back is no duplicate
                metrics.CHARGES.labels("duplicate").inc()
            if not entry.written_back:
                record = await self.current(command)
                if record is None:
                    raise Rejected("record_not_found", f"{command.key}: nothing to write back to")
                await self.finish(command, entry, record)
            return
        if entry is not None and await self.resolved_by_export(command, entry):
            return
        record = await self.current(command)
        try:
            if record is None:
                raise ChargeRefused("record_not_found", f"{command.object} does not exist")
            confirm_current(rule, record, collection)
            amount = self.amount(command, record)
            vault_id = await self.vault_id(record)
            if vault_id is not None:
                invoiced = await ensure_erp_invoice(self.ctx, command, vault_id, amount)
                if invoiced.quantize(Decimal("0.01")) != amount:
                    raise ChargeRefused(
                        "amount_mismatch", f"the record says {amount}, its ERP invoice {invoiced}"
                    )
        except ChargeRefused as refused:
            await self.refused(command, entry, refused, record)
            raise
        if vault_id is None:
            detail = "payment method required: the Account has no PayTrace vault id"
            no_method = ledger_entry(command.key, LedgerState.NO_PAYMENT_METHOD, detail)
            await self.finish(command, no_method, record)
            return
        if entry is None or entry.amount != str(amount):
            await self.record(ledger_entry(command.key, LedgerState.PENDING, amount=str(amount)))
        await self.charge(command, amount, vault_id, record, look_first=entry is None)

    async def resolved_by_export(self, command: ChargeCommand, entry: LedgerEntry) -> bool:
        """A PENDING key: the sale an earlier attempt sent may have been made. Asked before
        anything else, so the money's truth is recorded even if the record changed since."""
        existing = await self.existing_sale(command)
        if existing is None:
            return False
        log.info(
            "%s: %s already charged in PayTrace (%s)",
            self.name,
            command.key,
            existing.transaction_id,
        )
        record = await self.current(command) or {}
        await self.concluded(command, existing, Decimal(entry.amount or 0), record)
        return True

    async def current(self, command: ChargeCommand) -> dict[str, Any] | None:
        """The record as Salesforce holds it now (a bad id is the connector's RecordError)."""
        return await self.read(command.object, command.record_id)

    def amount(self, command: ChargeCommand, record: dict[str, Any]) -> Decimal:
        field = self.ctx.mapping.collection.amount_fields.get(command.object) or ""
        try:
            amount = Decimal(str(record.get(field))).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            amount = Decimal(0)  # absent, text, NaN or infinite: nothing we could charge
        if not amount.is_finite() or amount <= 0:
            raise ChargeRefused("no_amount", f"{command.object}.{field} holds no positive amount")
        return amount

    async def vault_id(self, record: dict[str, Any]) -> str | None:
        collection = self.ctx.mapping.collection
        account_id = record.get(collection.account_field)
        if not account_id:
            return None
        account = await self.read("Account", str(account_id))
        found = (account or {}).get(collection.vault_id_field)
        return str(found) if found else None

    async def refused(
        self,
        command: ChargeCommand,
        entry: LedgerEntry | None,
        refused: ChargeRefused,
        record: dict[str, Any] | None,
    ) -> None:
        """What a refusal leaves behind: nothing, unless a real trigger has nothing to charge."""
        if entry is not None:  # PENDING, and the export holds no sale: free the key
            await self.forget(command.key)
        if refused.refusal == "no_amount" and record is not None:
            failed = ledger_entry(command.key, LedgerState.FAILED, refused.detail)
            await self.finish(command, failed, record)

    # -- PayTrace ------------------------------------------------------------------------
    async def existing_sale(self, command: ChargeCommand) -> TransactionResult | None:
        """A sale PayTrace already holds for this record (the reference travels as invoice_id)."""
        today = datetime.now(UTC).date()
        found = await self.paytrace().export_by_date_range(
            today - LOOKBACK, today + timedelta(days=1), invoice_id=command.record_id
        )
        return sale_from_export(found)

    def description(self, record: dict[str, Any]) -> str | None:
        template = self.ctx.mapping.to_paytrace.get("description")
        if not template:
            return None
        values = {
            name: str(record.get(f"{name}__c") or "") for name in self.ctx.mapping.custom_fields
        }
        return template.format(**values)

    async def charge(
        self,
        command: ChargeCommand,
        amount: Decimal,
        vault_id: str,
        record: dict[str, Any],
        *,
        look_first: bool,
    ) -> None:
        # A fresh key asks the export too: the ledger may have been lost, PayTrace was not.
        existing = await self.existing_sale(command) if look_first else None
        if existing is not None:
            log.info(
                "%s: %s already charged in PayTrace (%s)",
                self.name,
                command.key,
                existing.transaction_id,
            )
            await self.concluded(command, existing, amount, record)
            return
        extra: dict[str, Any] = {}
        description = self.description(record)
        if description:
            extra["description"] = description
        try:
            result = await self.paytrace().sale_by_customer(
                vault_id,
                amount,
                command.record_id,
                customer_reference_id=command.record_id,
                **extra,
            )
        except RecordError as exc:
            # Refused before any money moved. Anything else (an outage, a lost answer) is
            # raised: the key stays PENDING and the next attempt asks the export first.
            if exc.system == "paytrace" and exc.code == CUSTOMER_NOT_FOUND:
                detail = f"payment method required: PayTrace has no vault customer {vault_id}"
                state = LedgerState.NO_PAYMENT_METHOD
            else:
                detail, state = f"PayTrace refused the sale: {exc}", LedgerState.FAILED
            await self.finish(command, ledger_entry(command.key, state, detail), record)
            if state is LedgerState.FAILED:
                raise
            return
        await self.concluded(command, result, amount, record)

    async def concluded(
        self,
        command: ChargeCommand,
        result: TransactionResult,
        amount: Decimal,
        record: dict[str, Any],
    ) -> None:
        state = LedgerState.DONE if result.approved else LedgerState.DECLINED
        final = ledger_entry(
            command.key,
            state,
            f"PayTrace {result.response_code}: {result.status_message}",
            transaction_id=result.transaction_id,
            amount=str(amount),
        )
        await self.finish(command, final, record)

    async def finish(
        self, command: ChargeCommand, entry: LedgerEntry, record: dict[str, Any]
    ) -> None:
        if not entry.final or entry.written_back:
            return
        if self.entry(command.key) != entry:  # a resumed write-back was counted already
            await self.record(entry)
            metrics.CHARGES.labels(OUTCOME_LABEL[entry.state]).inc()
            # An audit line per business event: ids and outcome only, never card data.
            log.info(
                "%s: %s %s %s",
                self.name,
                command.key,
                entry.state.value,
                entry.transaction_id or "",
            )
        # A Salesforce failure of this write-back is retried by the runtime: the final entry
        # makes the next attempt resume at the write-back, never at the sale.
        await self.enqueue(command.key, write_back(self.ctx, command, entry, record), entry)
