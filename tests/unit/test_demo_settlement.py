"""The demo's settlement check: batches PayTrace settled against Settlement__c records and
journal entries read back from Salesforce and Sage Pro."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from connectors.paytrace.models import ExportedBatch
from connectors.sagepro.models import JournalEntry, JournalLine
from stream.demo.settlement import settlement_result
from stream.mapping import load_mapping

MAPPING = load_mapping()


def batch(number: int, net: str = "10.00") -> ExportedBatch:
    return ExportedBatch(
        batch_number=number,
        settled="11/22/2026 11:00:00 PM",
        transaction_count=1,
        net_amount=Decimal(net),
        sales_count=1,
        sales_amount=Decimal(net),
        refund_count=0,
        refund_amount=Decimal("0"),
    )


def record(number: int, status: str) -> dict[str, Any]:
    return {"BatchNumber__c": str(number), "Status__c": status}


def entry(number: int) -> JournalEntry:
    lines = [
        JournalLine(gl_account_id="1000", debit=Decimal("10")),
        JournalLine(gl_account_id="1010", credit=Decimal("10")),
    ]
    return JournalEntry(
        reference=f"PAYTRACE-BATCH-{number}", entry_date=date(2026, 11, 22), lines=lines
    )


def test_every_batch_reconciled_with_one_entry_is_ok() -> None:
    result = settlement_result(
        [batch(1), batch(2)],
        [record(1, "Reconciled"), record(2, "Reconciled")],
        [
            entry(1),
            entry(2),
            JournalEntry.model_validate(entry(3).model_dump() | {"reference": "9"}),
        ],
        MAPPING,
    )
    assert (result.settled, result.reconciled, result.mismatched) == (2, 2, 0)
    assert result.ok


def test_a_mismatch_or_a_missing_record_or_entry_is_not_ok() -> None:
    result = settlement_result(
        [batch(1), batch(2), batch(3)],
        [record(1, "Mismatch"), record(3, "Reconciled")],
        [entry(1)],
        MAPPING,
    )
    assert result.mismatched == 1 and result.reconciled == 0
    assert result.unreconciled == ["2", "3"]  # 2: no Settlement__c, 3: no journal entry
    assert not result.ok


def test_a_batch_netting_to_zero_needs_no_entry_and_duplicates_are_counted() -> None:
    result = settlement_result(
        [batch(1, "0.00"), batch(2)],
        [record(1, "Reconciled"), record(2, "Reconciled")],
        [entry(2), entry(2)],
        MAPPING,
    )
    assert result.reconciled == 2 and result.journal_duplicates == 1
    assert not result.ok
    assert not settlement_result([], [], [], MAPPING).ok  # nothing settled: nothing proven
