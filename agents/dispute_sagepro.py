"""Sink flow: disputes -> Sage Pro credit memos and journal entries, keyed by case and stage.

- chargeback: the sale's payment is reversed in the AR sub-ledger for the part of the disputed
  amount it applied to the invoice (a negative payment naming the sale, which reopens the
  invoice), and a credit memo against that invoice closes it again (the invoice is settled by
  credit, not by payment); the journal entry moves the disputed amount from merchant clearing
  into chargebacks receivable (Dr receivable / Cr clearing). AR (1200) nets to zero.
- won / reversed: the money comes back: Dr clearing / Cr receivable.
- lost: written off: Dr losses / Cr receivable.
- retrieval_request, representment: nothing moves in the ledger (the Salesforce Case tracks it).

Every posting's Reference is ``<prefix><case id>-<stage>`` (won and reversed share one: the money
can come back only once), so a notification delivered again or a report imported twice posts
nothing new. A final stage arriving before its chargeback posts the chargeback first, so the
ledger balances whatever order the stages arrive in. A dispute whose sale paystream has not
posted is dead-lettered ``dispute_payment_unknown`` (re-drive it once the sale is in).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.gl_accounts import ChartOfAccounts
from connectors.sagepro.models import CreditMemo, JournalEntry, JournalLine
from connectors.sagepro.models import Payment as SagePayment
from connectors.sagepro.models import PaymentStatus as SageStatus
from schemas.dispute import Dispute, DisputeStage
from schemas.payment import PaymentStatus
from stream.pci import redact_text
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.sink import BatchSink, Item

SUFFIX = {
    DisputeStage.CHARGEBACK: "CB",
    DisputeStage.WON: "RETURNED",
    DisputeStage.REVERSED: "RETURNED",
    DisputeStage.LOST: "LOST",
}


def reference(prefix: str, dispute: Dispute, stage: DisputeStage) -> str:
    return redact_text(f"{prefix}{dispute.case_id}-{SUFFIX[stage]}")


def entry_for(
    dispute: Dispute, stage: DisputeStage, debit: str, credit: str, prefix: str
) -> JournalEntry:
    memo = redact_text(
        f"dispute {dispute.case_id} {stage.value} of PayTrace {dispute.transaction_id} "
        f"({dispute.reason_code})"
    )
    return JournalEntry(
        reference=reference(prefix, dispute, stage),
        entry_date=dispute.received_at.date(),
        memo=memo,
        lines=[
            JournalLine(gl_account_id=debit, debit=dispute.amount, memo=memo),
            JournalLine(gl_account_id=credit, credit=dispute.amount, memo=memo),
        ],
    )


class SageProDisputeSink(BatchSink[Dispute]):
    model = Dispute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chart = ChartOfAccounts(self.ctx.connectors.sagepro)

    @property
    def sage(self) -> SageProBackend:
        return self.ctx.connectors.sagepro()

    async def write_one(self, item: Item[Dispute]) -> None:
        dispute = item.value
        stage = dispute.stage
        if stage not in SUFFIX:
            raise Ignored("dispute_no_ledger_effect")
        accounts = self.ctx.mapping.sagepro.disputes
        prefix = accounts.reference_prefix
        sale = await self.sage.get_payment(dispute.transaction_id)
        if sale is None or sale.amount <= 0:
            raise Rejected(
                "dispute_payment_unknown",
                f"dispute {dispute.case_id}: no Sage Pro payment {dispute.transaction_id} yet",
            )
        await self.chart.require({accounts.receivable, accounts.clearing, accounts.losses})
        if stage is not DisputeStage.CHARGEBACK:
            other = DisputeStage.LOST if stage is not DisputeStage.LOST else DisputeStage.WON
            if await self.sage.get_journal_entry(reference(prefix, dispute, other)) is not None:
                raise Rejected(
                    "dispute_stage_conflict",
                    f"dispute {dispute.case_id}: {stage.value} after {SUFFIX[other].lower()}",
                )
        await self.chargeback(dispute, sale)
        if stage is DisputeStage.LOST:
            entry = entry_for(dispute, stage, accounts.losses, accounts.receivable, prefix)
            await self.sage.post_journal_entry(entry)
        elif stage in (DisputeStage.WON, DisputeStage.REVERSED):
            entry = entry_for(dispute, stage, accounts.clearing, accounts.receivable, prefix)
            await self.sage.post_journal_entry(entry)

    async def chargeback(self, dispute: Dispute, sale: SagePayment) -> None:
        """The chargeback's postings (each idempotent by its Reference)."""
        accounts = self.ctx.mapping.sagepro.disputes
        prefix = accounts.reference_prefix
        ref = reference(prefix, dispute, DisputeStage.CHARGEBACK)
        applied = min(dispute.amount, abs(sale.applied_amount or Decimal("0")))
        if sale.invoice_id and applied > 0:
            reason = redact_text(f"chargeback {dispute.reason_code}: {dispute.reason}")[:200]
            await self.sage.post_payment(
                SagePayment(
                    payment_reference=ref,
                    payment_date=dispute.received_at.date(),
                    amount=-applied,
                    customer_id=sale.customer_id,
                    gl_account_id=accounts.clearing,
                    payment_method_code=sale.payment_method_code,
                    payment_status=SageStatus(
                        self.ctx.mapping.sagepro.payment_status[PaymentStatus.CHARGEBACK]
                    ),
                    original_payment_reference=sale.payment_reference,
                    memo=redact_text(f"dispute {dispute.case_id}: {reason}"),
                )
            )
            await self.sage.post_credit_memo(
                CreditMemo(
                    reference=ref,
                    invoice_id=sale.invoice_id,
                    customer_id=sale.customer_id,
                    memo_date=dispute.received_at.date(),
                    amount=applied,
                    reason=reason,
                )
            )
        entry = entry_for(
            dispute, DisputeStage.CHARGEBACK, accounts.receivable, accounts.clearing, prefix
        )
        await self.sage.post_journal_entry(entry)
