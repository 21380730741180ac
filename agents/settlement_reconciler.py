"""Sink flow: reconciles each PayTrace settlement batch against Salesforce and Sage Pro and
writes the outcome to both.

Per batch (key: batch number), in this order:
1. read what the two systems hold, in as few calls as their APIs allow: Payment__c by SOQL
   ``PaymentID__c IN (...)`` in chunks of 200, Sage Pro payments by one paged listing over the
   batch's payment dates (a reference not found there is asked for by itself);
2. decide (stream/reconcile.py); a batch with transactions not found yet is looked at once more
   after ``PAYSTREAM_SETTLEMENT_RECHECK_SECONDS`` (they may still be on their way);
3. post ONE journal entry moving the net amount from the clearing account to the bank,
   Reference ``PAYTRACE-BATCH-<n>`` (idempotent in Sage Pro), unless the totals do not add up;
4. upsert ``Settlement__c`` by batch number with counts, amounts and the status.
Totals that do not add up also dead-letter the batch with the reason. Every write is
idempotent, so a batch seen twice (or written again after an outage) changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.salesforce.soql import literal
from schemas.settlement import SettlementBatch
from stream import metrics
from stream.reconcile import MismatchKind, Outcome, Report, reconcile
from stream.runtime.outcomes import Rejected
from stream.runtime.records import Incoming
from stream.runtime.sink import BatchSink, Item
from stream.settlement_outputs import settlement_journal_entry, settlement_record

log = logging.getLogger(__name__)
SOQL_CHUNK = 200  # ids per query: keeps the GET URL well under Salesforce's 16 KB
MISSING = (MismatchKind.MISSING_IN_SALESFORCE, MismatchKind.MISSING_IN_SAGEPRO)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class SettlementReconciler(BatchSink[SettlementBatch]):
    model = SettlementBatch
    # Batches are independent (one key each); a few at once so one batch's recheck pause does
    # not hold up the others, few enough to stay gentle on both APIs.
    concurrency: ClassVar[int] = 4

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chart = ChartOfAccounts(self.ctx.connectors.sagepro)

    async def write_one(self, item: Item[SettlementBatch]) -> None:
        batch = item.value
        report = await self.decide(batch)
        entry = settlement_journal_entry(batch, report, self.ctx.mapping.sagepro.settlement)
        if entry is not None:
            await self.chart.require({line.gl_account_id for line in entry.lines})
            await self.ctx.connectors.sagepro().post_journal_entry(entry)
        record = settlement_record(
            batch,
            report,
            entry.reference if entry is not None else None,
            datetime.now(UTC),
            self.ctx.mapping,
        )
        target = self.ctx.mapping.salesforce.settlement
        await self.ctx.connectors.salesforce().upsert(
            target.object, target.external_id_field, str(batch.batch_number), record
        )
        # Counted once the outcome is written, so a batch written again after an outage
        # counts once; a dead-lettered batch is counted by ``dead_letter``.
        for kind, count in report.by_kind.items():
            metrics.SETTLEMENT_MISMATCHES.labels(kind.value).inc(count)
        log.info(
            "settlement batch %s: %s (%d matched, %d mismatched)",
            batch.batch_number,
            report.outcome.value,
            report.matched,
            report.mismatched,
        )
        if report.outcome is Outcome.TOTALS_DIFFER:
            # Settlement__c says Totals Differ, and a person gets the batch to look at.
            raise Rejected(
                "settlement_totals_differ", f"batch {batch.batch_number}: {report.reason()}"
            )
        metrics.SETTLEMENT_BATCHES.labels(report.outcome.value).inc()

    async def dead_letter(self, record: Incoming, reason: str, detail: str) -> None:
        # Every way a batch is parked (malformed, a GL account, totals, retries) is one outcome.
        metrics.SETTLEMENT_BATCHES.labels("dead_letter").inc()
        await super().dead_letter(record, reason, detail)

    async def decide(self, batch: SettlementBatch) -> Report:
        report = await self.compare(batch)
        pause = self.ctx.worker.settlement_recheck_seconds
        if pause > 0 and any(m.kind in MISSING for m in report.mismatches):
            log.info(
                "settlement batch %s: %s; checking again in %.0fs",
                batch.batch_number,
                report.reason(3),
                pause,
            )
            await asyncio.sleep(pause)
            report = await self.compare(batch)
        return report

    async def compare(self, batch: SettlementBatch) -> Report:
        ids = [tx.transaction_id for tx in batch.transactions]
        return reconcile(
            batch, await self.salesforce_amounts(ids), await self.sagepro_amounts(batch)
        )

    async def salesforce_amounts(self, ids: list[str]) -> dict[str, Decimal | None]:
        """PaymentID__c -> Amount__c of the Payment__c records that exist."""
        sf_map = self.ctx.mapping.salesforce
        ext, amount = sf_map.external_id_field, sf_map.amount_field
        fields = ", ".join(f for f in (ext, amount) if f)
        found: dict[str, Decimal | None] = {}
        for start in range(0, len(ids), SOQL_CHUNK):
            chunk = ", ".join(literal(i) for i in ids[start : start + SOQL_CHUNK])
            soql = f"SELECT {fields} FROM {sf_map.object} WHERE {ext} IN ({chunk})"  # noqa: S608
            for row in await self.ctx.connectors.salesforce().query(soql):
                found[str(row[ext])] = _decimal(row.get(amount)) if amount else None
        return found

    async def sagepro_amounts(self, batch: SettlementBatch) -> dict[str, Decimal]:
        """PaymentReference -> signed amount of the batch's transactions Sage Pro holds."""
        wanted = {tx.transaction_id for tx in batch.transactions}
        if not wanted:
            return {}
        sage = self.ctx.connectors.sagepro()
        days = [tx.created_at.date() for tx in batch.transactions]  # payment dates are UTC days
        listed = await sage.list_payments(
            from_date=min(days) - timedelta(days=1), to_date=max(days) + timedelta(days=1)
        )
        found = {p.payment_reference: p.amount for p in listed if p.payment_reference in wanted}
        for reference in sorted(wanted - set(found)):  # dated differently, or really missing
            payment = await sage.get_payment(reference)
            if payment is not None:
                found[reference] = payment.amount
        return found
