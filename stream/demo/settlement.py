"""The demo's settlement: once everything has converged, PayTrace closes its open batch
(``POST /v1/transactions/settle``, as a merchant on manual settlement does) and the pipeline
must reconcile it. What PayTrace settled, what
Salesforce holds as Settlement__c and what Sage Pro holds as journal entries are read back from
their own APIs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import ExportedBatch
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.models import JournalEntry
from stream.mapping import Mapping


@dataclass
class SettlementResult:
    settled: int  # batches PayTrace reports
    reconciled: int  # with a Settlement__c saying Reconciled and exactly one journal entry
    mismatched: int  # with a Settlement__c saying anything else
    unreconciled: list[str]  # batch numbers with no Settlement__c yet, or no journal entry
    journal_duplicates: int

    @property
    def ok(self) -> bool:
        return (
            self.settled > 0
            and self.reconciled == self.settled
            and self.mismatched == 0
            and self.journal_duplicates == 0
        )


def settlement_result(
    batches: list[ExportedBatch],
    records: list[dict[str, Any]],
    entries: list[JournalEntry],
    mapping: Mapping,
) -> SettlementResult:
    target = mapping.salesforce.settlement
    reconciled_label = target.status["reconciled"]
    status = {str(r.get(target.external_id_field)): r.get("Status__c") for r in records}
    prefix = mapping.sagepro.settlement.reference_prefix
    posted = Counter(e.reference for e in entries if e.reference.startswith(prefix))
    reconciled = mismatched = 0
    waiting = []
    for batch in batches:
        number = str(batch.batch_number)
        label = status.get(number)
        moved = batch.net_amount != 0
        if label is None or (moved and posted[prefix + number] == 0):
            waiting.append(number)
        elif label == reconciled_label:
            reconciled += 1
        else:
            mismatched += 1
    return SettlementResult(
        settled=len(batches),
        reconciled=reconciled,
        mismatched=mismatched,
        unreconciled=waiting,
        journal_duplicates=sum(n - 1 for n in posted.values() if n > 1),
    )


async def settle_and_reconcile(
    paytrace: PayTraceClient,
    sage: SageProRestClient,
    salesforce_control: httpx.AsyncClient,
    mapping: Mapping,
    within_seconds: float = 30.0,
) -> SettlementResult:
    """Close PayTrace's open batch, then wait until every settled batch is reconciled."""
    await paytrace.settle()
    today = date.today()
    deadline = time.monotonic() + within_seconds
    while True:
        batches = await paytrace.export_batches(
            today - timedelta(days=1), today + timedelta(days=1)
        )
        response = await salesforce_control.get(
            f"/_emulator/records/{mapping.salesforce.settlement.object}"
        )
        records = response.json()["records"]
        prefix = mapping.sagepro.settlement.reference_prefix
        entries = [
            entry
            for batch in batches
            for entry in await sage.list_journal_entries(reference=f"{prefix}{batch.batch_number}")
        ]
        result = settlement_result(batches, records, entries, mapping)
        if not result.unreconciled or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)
