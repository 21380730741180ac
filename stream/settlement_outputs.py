"""What a reconciled settlement batch writes: the ``Settlement__c`` fields and the one journal
entry that moves the batch's net amount from the clearing account to the bank (per the mapping).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.sagepro.models import JournalEntry, JournalLine
from schemas.settlement import SettlementBatch
from stream.mapping import Mapping, SettlementAccounts
from stream.reconcile import MismatchKind, Outcome, Report

REASON_LENGTH = 2000  # a long text area holds more; the reason is for people, not audits


def journal_reference(batch_number: int, accounts: SettlementAccounts) -> str:
    return f"{accounts.reference_prefix}{batch_number}"


def settlement_journal_entry(
    batch: SettlementBatch, report: Report, accounts: SettlementAccounts
) -> JournalEntry | None:
    """Dr bank / Cr clearing for the net amount (reversed when refunds exceed sales).

    None when nothing is to be posted: the totals do not add up, or the batch nets to zero.
    """
    if report.outcome is Outcome.TOTALS_DIFFER or report.net_amount == 0:
        return None
    amount = abs(report.net_amount)
    memo = (
        f"PayTrace settlement batch {batch.batch_number} ({report.transaction_count} transactions)"
    )
    into, out_of = (
        (accounts.bank, accounts.clearing)
        if report.net_amount > 0
        else (accounts.clearing, accounts.bank)
    )
    return JournalEntry(
        reference=journal_reference(batch.batch_number, accounts),
        entry_date=batch.settled_on,
        lines=[
            JournalLine(gl_account_id=into, debit=amount, memo=memo),
            JournalLine(gl_account_id=out_of, credit=amount, memo=memo),
        ],
        memo=memo,
    )


def settlement_values(
    batch: SettlementBatch,
    report: Report,
    journal: str | None,
    reconciled_at: datetime,
    mapping: Mapping,
) -> dict[str, Any]:
    """Each value a Settlement__c field can be filled from."""
    kinds = report.by_kind
    labels = mapping.salesforce.settlement.status
    return {
        "settled_on": batch.settled_on.isoformat(),
        "transaction_count": report.transaction_count,
        "net_amount": float(report.net_amount),
        "transactions_total": float(report.transactions_total),
        "matched": report.matched,
        "mismatched": report.mismatched,
        "missing_in_salesforce": kinds[MismatchKind.MISSING_IN_SALESFORCE],
        "missing_in_sagepro": kinds[MismatchKind.MISSING_IN_SAGEPRO],
        "amount_differs": kinds[MismatchKind.AMOUNT_DIFFERS],
        "status": labels[report.outcome.value],
        "reason": report.reason()[:REASON_LENGTH] or None,
        "journal_reference": journal,
        "reconciled_at": reconciled_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    }


def settlement_record(
    batch: SettlementBatch,
    report: Report,
    journal: str | None,
    reconciled_at: datetime,
    mapping: Mapping,
) -> dict[str, Any]:
    """The fields of the Settlement__c upsert (external id excluded: it is in the URL).

    An empty reason or journal reference is sent as null: a batch reconciled again after a fix
    must not keep the old reason."""
    values = settlement_values(batch, report, journal, reconciled_at, mapping)
    return {name: values[source] for name, source in mapping.salesforce.settlement.fields.items()}
