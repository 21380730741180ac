"""What the demo expects in Salesforce and Sage Pro for each PayTrace transaction, and what
it finds there, read back through the systems' own APIs (never the pipeline's counters).

The expectations are the business rules of the default mapping, written out independently
of the pipeline's code so the demo checks the pipeline rather than repeating it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connectors.paytrace.models import ExportedTransaction
from connectors.sagepro.models import JournalEntry
from connectors.sagepro.models import Payment as SagePayment

VOID_SUFFIX = "-VOID"


def salesforce_status(tx: ExportedTransaction) -> str:
    kind, status = str(tx.transaction_type), (tx.status or "").upper()
    if status in ("DECLINED", "AUTO_VOIDED"):
        return "Failed"
    if status == "VOIDED":
        return "Voided"
    if kind == "REFUND":
        return "Refunded"
    if kind == "AUTHORIZATION" and status == "AUTHORIZED":
        return "Authorized"
    return "Settled" if tx.settled else "Completed"


def sagepro_payments(tx: ExportedTransaction, invoices: set[str]) -> dict[str, str]:
    """PaymentReference -> PaymentStatus that Sage Pro should hold for ``tx``."""
    ref, kind, status = str(tx.transaction_id), str(tx.transaction_type), (tx.status or "").upper()
    paid = "Paid" if tx.invoice_id in invoices else "OnAccount"
    if status in ("DECLINED", "AUTO_VOIDED"):
        return {ref: "Failed"}
    if kind == "REFUND":
        return {ref: "Refunded"}
    if kind == "AUTHORIZATION" and status in ("AUTHORIZED", "VOIDED"):
        return {}
    if status == "VOIDED":
        return {ref: paid, ref + VOID_SUFFIX: "Voided"}
    return {ref: paid}


@dataclass
class Expected:
    salesforce: dict[str, str] = field(default_factory=dict)
    sagepro: dict[str, str] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, transactions: list[ExportedTransaction], invoices: set[str]) -> Expected:
        """``invoices``: the Sage Pro invoice ids that exist (others are paid on account)."""
        expected = cls()
        for tx in transactions:
            expected.salesforce[str(tx.transaction_id)] = salesforce_status(tx)
            expected.sagepro.update(sagepro_payments(tx, invoices))
            expected.kinds[f"{tx.transaction_type}/{tx.status}"] += 1
        return expected


@dataclass
class Comparison:
    salesforce_missing: list[str]
    salesforce_wrong: list[str]
    salesforce_duplicates: int
    salesforce_unexpected: int
    sagepro_missing: list[str]
    sagepro_wrong: list[str]
    sagepro_duplicates: int
    sagepro_unexpected: int
    journal_missing: list[str]
    journal_duplicates: int
    salesforce_matched: int
    sagepro_matched: int
    sagepro_needs_review: int

    def sample(self, size: int = 5) -> dict[str, list[str]]:
        """A few keys of each kind of gap, to start an investigation from."""
        gaps = {
            "salesforce_missing": self.salesforce_missing,
            "salesforce_wrong_status": self.salesforce_wrong,
            "sagepro_missing": self.sagepro_missing,
            "sagepro_wrong_status": self.sagepro_wrong,
            "journal_missing": self.journal_missing,
        }
        return {name: keys[:size] for name, keys in gaps.items() if keys}

    @property
    def missing(self) -> int:
        return sum(
            len(x)
            for x in (
                self.salesforce_missing,
                self.salesforce_wrong,
                self.sagepro_missing,
                self.sagepro_wrong,
                self.journal_missing,
            )
        )

    @property
    def duplicates(self) -> int:
        return (
            self.salesforce_duplicates
            + self.sagepro_duplicates
            + self.journal_duplicates
            + self.salesforce_unexpected
            + self.sagepro_unexpected
        )


def compare(
    expected: Expected,
    salesforce_records: list[dict[str, Any]],
    sage_payments: list[SagePayment],
    journal_entries: list[JournalEntry],
) -> Comparison:
    sf_ids = Counter(str(r.get("PaymentID__c")) for r in salesforce_records)
    sf_status = {str(r.get("PaymentID__c")): r.get("Status__c") for r in salesforce_records}
    sage_refs = Counter(p.payment_reference for p in sage_payments)
    sage_status = {p.payment_reference: str(p.payment_status) for p in sage_payments}
    journal_refs = Counter(j.reference for j in journal_entries)
    moved = {ref for ref, status in expected.sagepro.items() if status != "Failed"}
    return Comparison(
        salesforce_missing=[k for k in expected.salesforce if k not in sf_ids],
        salesforce_wrong=[
            k for k, v in expected.salesforce.items() if k in sf_status and sf_status[k] != v
        ],
        salesforce_duplicates=sum(n - 1 for n in sf_ids.values() if n > 1),
        salesforce_unexpected=len(set(sf_ids) - set(expected.salesforce)),
        sagepro_missing=[k for k in expected.sagepro if k not in sage_refs],
        sagepro_wrong=[
            k for k, v in expected.sagepro.items() if k in sage_status and sage_status[k] != v
        ],
        sagepro_duplicates=sum(n - 1 for n in sage_refs.values() if n > 1),
        sagepro_unexpected=len(set(sage_refs) - set(expected.sagepro)),
        journal_missing=[k for k in moved if k not in journal_refs],
        journal_duplicates=sum(n - 1 for n in journal_refs.values() if n > 1),
        salesforce_matched=sum(1 for k, v in expected.salesforce.items() if sf_status.get(k) == v),
        sagepro_matched=sum(1 for k, v in expected.sagepro.items() if sage_status.get(k) == v),
        sagepro_needs_review=sum(1 for p in sage_payments if p.needs_review),
    )
