"""Reconciling a PayTrace settlement batch: a pure decision, from the batch and what Salesforce
and Sage Pro hold, to a report. Fetching and writing are the agent's business
(agents/settlement_reconciler.py).

Every settled transaction must be a ``Payment__c`` (by PaymentID__c) with the same amount, and a
Sage Pro payment (by PaymentReference) with the same signed amount (refunds are negative there).
The batch's own totals must add up: its transactions sum to its net amount and there are as many
as it says. A transaction that is missing or differs is a mismatch, which the books can live
with (the money did settle); totals that do not add up mean the batch itself cannot be trusted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from schemas.settlement import SettlementBatch

CENT = Decimal("0.01")


class MismatchKind(StrEnum):
    MISSING_IN_SALESFORCE = "missing_in_salesforce"
    MISSING_IN_SAGEPRO = "missing_in_sagepro"
    AMOUNT_DIFFERS = "amount_differs"


class Outcome(StrEnum):
    RECONCILED = "reconciled"
    MISMATCH = "mismatch"  # some transactions differ; the batch's totals add up
    TOTALS_DIFFER = "totals_differ"  # the batch does not add up: nothing is posted


@dataclass(frozen=True)
class Mismatch:
    transaction_id: str
    kind: MismatchKind
    system: str  # salesforce | sagepro
    expected: Decimal
    found: Decimal | None = None

    def describe(self) -> str:
        if self.kind is MismatchKind.AMOUNT_DIFFERS:
            return f"{self.transaction_id}: {self.system} has {self.found}, batch {self.expected}"
        return f"{self.transaction_id}: not in {self.system}"


@dataclass(frozen=True)
class Report:
    batch_number: int
    transaction_count: int  # what the batch says
    net_amount: Decimal  # what the batch says
    transactions_total: Decimal  # what its transactions add up to
    transactions_listed: int
    matched: int
    mismatches: tuple[Mismatch, ...] = field(default_factory=tuple)

    @property
    def totals_add_up(self) -> bool:
        return (
            self.transactions_total == self.net_amount
            and self.transactions_listed == self.transaction_count
        )

    @property
    def mismatched(self) -> int:
        """Transactions with at least one mismatch (missing in both systems counts once)."""
        return len({m.transaction_id for m in self.mismatches})

    @property
    def by_kind(self) -> Counter[MismatchKind]:
        return Counter(m.kind for m in self.mismatches)

    @property
    def outcome(self) -> Outcome:
        if not self.totals_add_up:
            return Outcome.TOTALS_DIFFER
        return Outcome.MISMATCH if self.mismatches else Outcome.RECONCILED

    def reason(self, limit: int = 10) -> str:
        """Why the batch is not reconciled, for people ('' when it is)."""
        parts = []
        if self.transactions_total != self.net_amount:
            parts.append(
                f"transactions sum to {self.transactions_total}, batch net amount is "
                f"{self.net_amount}; no journal entry posted"
            )
        if self.transactions_listed != self.transaction_count:
            parts.append(
                f"{self.transactions_listed} transactions listed, batch says "
                f"{self.transaction_count}; no journal entry posted"
            )
        if self.mismatches:
            shown = "; ".join(m.describe() for m in self.mismatches[:limit])
            more = len(self.mismatches) - limit
            parts.append(shown + (f"; and {more} more" if more > 0 else ""))
        return ". ".join(parts)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def reconcile(
    batch: SettlementBatch,
    salesforce: Mapping[str, Decimal | None],
    sagepro: Mapping[str, Decimal],
) -> Report:
    """``salesforce``: PaymentID__c -> amount (None when the org keeps no amount field);
    ``sagepro``: PaymentReference -> signed amount. Ids absent from a map are missing there."""
    mismatches: list[Mismatch] = []
    matched = 0
    total = Decimal("0")
    for tx in batch.transactions:
        total += tx.signed_amount
        found: list[Mismatch] = []
        tx_id = tx.transaction_id
        if tx_id not in salesforce:
            found.append(
                Mismatch(tx_id, MismatchKind.MISSING_IN_SALESFORCE, "salesforce", tx.amount)
            )
        else:
            amount = salesforce[tx_id]
            # Payment__c keeps a refund's amount positive, as PayTrace does.
            if amount is not None and _money(abs(amount)) != _money(tx.amount):
                found.append(
                    Mismatch(tx_id, MismatchKind.AMOUNT_DIFFERS, "salesforce", tx.amount, amount)
                )
        if tx_id not in sagepro:
            found.append(
                Mismatch(tx_id, MismatchKind.MISSING_IN_SAGEPRO, "sagepro", tx.signed_amount)
            )
        elif _money(sagepro[tx_id]) != _money(tx.signed_amount):
            found.append(
                Mismatch(
                    tx_id, MismatchKind.AMOUNT_DIFFERS, "sagepro", tx.signed_amount, sagepro[tx_id]
                )
            )
        mismatches.extend(found)
        matched += not found
    return Report(
        batch_number=batch.batch_number,
        transaction_count=batch.transaction_count,
        net_amount=_money(batch.net_amount),
        transactions_total=_money(total),
        transactions_listed=len(batch.transactions),
        matched=matched,
        mismatches=tuple(mismatches),
    )
