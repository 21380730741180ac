"""Sink flow: risk scores -> the payment's score and reasons on ``Payment__c``, and one review
Case per transaction at or above the mapping's ``risk.review_threshold``.

Idempotent per transaction: the Payment__c fields are set (the same value again on a replay),
and the Case is found by its key field (``risk.case_id_field`` = ``RISK-<transaction id>``)
before one is created, as the dispute sink finds its Case. A score whose payment is not in
Salesforce yet (the payment sink runs beside this one) is retried, and dead-lettered
``retries_exhausted`` if the payment never arrives within the retry budget.
"""

from __future__ import annotations

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


def reasons_text(risk: RiskScore) -> str:
    return redact_text("; ".join(risk.reasons) or "no risk signal")[:255]


def case_fields(risk: RiskScore, payment: dict[str, Any], config: RiskMapping) -> dict[str, Any]:
    reasons = reasons_text(risk)
    fields: dict[str, Any] = {
        "Subject": f"Payment risk review: transaction {risk.transaction_id} "
        f"(score {risk.score:.2f})",
        "Priority": config.case_priority,
        "Status": "New",
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
    """Writes a batch in as few calls as Salesforce allows: one SOQL ``IN`` per 200 payments to
    find them, one sObject Collections upsert per 200 for the fields, and Case look-ups only
    for the few scores at or above the review threshold."""

    model = RiskScore
    ignored_reasons = ("payment_deleted",)

    @property
    def batch_seconds(self) -> float:
        # Not urgent, and its payment is written by the payment sink beside it: a longer
        # window means fuller collections and fewer scores that arrive before their payment.
        return max(5.0, self.ctx.worker.sink_batch_seconds)

    async def write(self, batch: list[Item[RiskScore]]) -> list[Result]:
        config = self.ctx.mapping.risk
        sf_map = self.ctx.mapping.salesforce
        salesforce = self.ctx.connectors.salesforce()
        latest = {item.value.transaction_id: item.value for item in batch}  # last score wins
        payments = await self._payments(sorted(latest))
        found = [tx for tx in latest if tx in payments]
        results: list[Result] = []
        if found:
            records = [
                {
                    sf_map.external_id_field: tx,
                    config.score_field: f"{latest[tx].score:.4f}",
                    config.reasons_field: reasons_text(latest[tx]),
                }
                for tx in found
            ]
            answers = await salesforce.upsert_collection(
                sf_map.object, sf_map.external_id_field, records, all_or_none=False
            )
            refused = {
                tx: record_error(answer)
                for tx, answer in zip(found, answers, strict=True)
                if not answer.success
            }
        else:
            refused = {}
        reviews = [tx for tx in found if tx not in refused]
        await self._cases([latest[tx] for tx in reviews], payments, config)
        for item in batch:
            tx = item.value.transaction_id
            if tx not in payments:
                results.append(
                    Failed(
                        Retriable(
                            f"{sf_map.object} {tx} is not in Salesforce yet",
                            system="salesforce",
                            code="risk_payment_unknown",
                        )
                    )
                )
            elif tx in refused and _deleted(refused[tx]):
                # Someone deleted the payment: the score stays on the risk topic, and a replay
                # that restores the payment scores it again.
                results.append(Skipped("payment_deleted"))
            elif tx in refused:
                error = refused[tx]
                results.append(Failed(error or Rejected("salesforce:unknown", f"{tx} refused")))
            else:
                results.append(DELIVERED)
        return results

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
    ) -> None:
        due = [risk for risk in scores if risk.score >= config.review_threshold]
        if not due:
            return
        salesforce = self.ctx.connectors.salesforce()
        keys = ", ".join(literal(CASE_PREFIX + risk.transaction_id) for risk in due)
        existing = {
            str(row[config.case_id_field])
            for row in await salesforce.query(
                f"SELECT {config.case_id_field} FROM Case "  # noqa: S608
                f"WHERE {config.case_id_field} IN ({keys})"
            )
        }
        for risk in due:
            if CASE_PREFIX + risk.transaction_id not in existing:
                payment = payments[risk.transaction_id]
                await salesforce.create("Case", case_fields(risk, payment, config))
