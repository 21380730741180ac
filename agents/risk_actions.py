"""Sink flow: risk scores -> the payment's score and reasons on ``Payment__c``, and one review
Case per transaction at or above the mapping's ``risk.review_threshold``.

Salesforce calls per batch of up to 200 scores: one SOQL ``IN`` to find the payments (their
Id and Account for the Case, and whether the payment sink has written them yet), one sObject
Collections upsert of the score fields by the payment's external id, and, when some score is
at or above the threshold, one sObject Collections upsert of their Cases by the Case's key
field (``risk.case_id_field`` = ``RISK-<transaction id>``, External ID and Unique in the org):
no look-up before a Case, and a replay updates the same Case instead of making another. The
Case's Status is left out, so a replay never reopens a Case a reviewer moved on.

Only what changed is written: the last score of a transaction within a batch wins, and a
score equal to the one this worker last wrote for that transaction (a redelivery) is
acknowledged without a call. A score whose payment is not in Salesforce yet (the payment
sink runs beside this one) is retried, and dead-lettered ``retries_exhausted`` if the payment
never arrives within the retry budget.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from connectors.base.errors import ConnectorError, Retriable
from connectors.salesforce.errors import record_error
from connectors.salesforce.soql import literal
from schemas.risk import RiskScore
from stream.mapping import RiskMapping
from stream.pci import redact_text
from stream.runtime.outcomes import DELIVERED, Failed, Rejected, Result, Skipped
from stream.runtime.sink import BatchSink, Item

CASE_PREFIX = "RISK-"
SOQL_CHUNK = 200  # ids per query: keeps the GET URL well under Salesforce's 16 KB
REMEMBERED = 50_000  # transactions whose last written score this worker keeps


def reasons_text(risk: RiskScore) -> str:
    return redact_text("; ".join(risk.reasons) or "no risk signal")[:255]


def case_fields(risk: RiskScore, payment: dict[str, Any], config: RiskMapping) -> dict[str, Any]:
    reasons = reasons_text(risk)
    fields: dict[str, Any] = {
        "Subject": f"Payment risk review: transaction {risk.transaction_id} "
        f"(score {risk.score:.2f})",
        "Priority": config.case_priority,
        "Reason": reasons,
        "Description": redact_text(
            f"{risk.payment_type} {risk.payment_status} of {risk.amount} {risk.currency} at "
            f"{risk.occurred_at.isoformat()} scored {risk.score:.4f} (review at "
            f"{config.review_threshold}): {'; '.join(risk.reasons)}"
        ),
        config.case_id_field: CASE_PREFIX + risk.transaction_id,
        "Payment__c": payment["Id"],
    }
    if payment.get("Account__c"):
        fields["AccountId"] = payment["Account__c"]
    return fields


def _deleted(error: ConnectorError | None) -> bool:
    return error is not None and error.code == "ENTITY_IS_DELETED"


class RiskActionSink(BatchSink[RiskScore]):
    model = RiskScore
    ignored_reasons = ("payment_deleted", "unchanged")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # transaction id -> (score, reasons) last written, oldest first (bounded).
        self.written: OrderedDict[str, tuple[float, str]] = OrderedDict()

    @property
    def batch_seconds(self) -> float:
        # Not urgent, and its payment is written by the payment sink beside it: a longer
        # window means fuller collections and fewer scores that arrive before their payment.
        return max(5.0, self.ctx.worker.sink_batch_seconds)

    def _remember(self, risk: RiskScore, reasons: str) -> None:
        self.written[risk.transaction_id] = (risk.score, reasons)
        self.written.move_to_end(risk.transaction_id)
        while len(self.written) > REMEMBERED:
            self.written.popitem(last=False)

    async def write(self, batch: list[Item[RiskScore]]) -> list[Result]:
        config = self.ctx.mapping.risk
        sf_map = self.ctx.mapping.salesforce
        latest = {item.value.transaction_id: item.value for item in batch}  # last score wins
        texts = {tx: reasons_text(risk) for tx, risk in latest.items()}  # redacted once
        changed = {
            tx: risk
            for tx, risk in latest.items()
            if self.written.get(tx) != (risk.score, texts[tx])
        }
        payments = await self._payments(sorted(changed))
        found = [tx for tx in changed if tx in payments]
        refused: dict[str, ConnectorError | None] = {}
        if found:
            records = [
                {
                    sf_map.external_id_field: tx,
                    config.score_field: f"{changed[tx].score:.4f}",
                    config.reasons_field: texts[tx],
                }
                for tx in found
            ]
            answers = await self.ctx.connectors.salesforce().upsert_collection(
                sf_map.object, sf_map.external_id_field, records, all_or_none=False
            )
            refused = {
                tx: record_error(answer)
                for tx, answer in zip(found, answers, strict=True)
                if not answer.success
            }
        reviews = [changed[tx] for tx in found if tx not in refused]
        refused |= await self._cases(reviews, payments, config)
        for tx in found:
            if tx not in refused:
                self._remember(changed[tx], texts[tx])
        return [self._result(item.value, changed, payments, refused) for item in batch]

    def _result(
        self,
        risk: RiskScore,
        changed: dict[str, RiskScore],
        payments: dict[str, dict[str, Any]],
        refused: dict[str, ConnectorError | None],
    ) -> Result:
        tx = risk.transaction_id
        if tx not in changed:
            return Skipped("unchanged")  # this worker already wrote exactly this
        if tx not in payments:
            return Failed(
                Retriable(
                    f"{self.ctx.mapping.salesforce.object} {tx} is not in Salesforce yet",
                    system="salesforce",
                    code="risk_payment_unknown",
                )
            )
        if tx in refused and _deleted(refused[tx]):
            # Someone deleted the payment: the score stays on the risk topic, and a replay
            # that restores the payment scores it again.
            return Skipped("payment_deleted")
        if tx in refused:
            error = refused[tx]
            return Failed(error or Rejected("salesforce:unknown", f"{tx} refused"))
        return DELIVERED

    async def _payments(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        sf_map = self.ctx.mapping.salesforce
        ext = sf_map.external_id_field
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), SOQL_CHUNK):
            chunk = ", ".join(literal(i) for i in ids[start : start + SOQL_CHUNK])
            soql = f"SELECT Id, Account__c, {ext} FROM {sf_map.object} WHERE {ext} IN ({chunk})"  # noqa: S608
            for row in await self.ctx.connectors.salesforce().query(soql):
                found[str(row[ext])] = row
        return found

    async def _cases(
        self, scores: list[RiskScore], payments: dict[str, dict[str, Any]], config: RiskMapping
    ) -> dict[str, ConnectorError | None]:
        """Upsert the Cases of the scores at or above the threshold; those refused."""
        due = [risk for risk in scores if risk.score >= config.review_threshold]
        if not due:
            return {}
        answers = await self.ctx.connectors.salesforce().upsert_collection(
            "Case",
            config.case_id_field,
            [case_fields(risk, payments[risk.transaction_id], config) for risk in due],
            all_or_none=False,
        )
        return {
            risk.transaction_id: record_error(answer)
            for risk, answer in zip(due, answers, strict=True)
            if not answer.success
        }
