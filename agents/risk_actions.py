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

from connectors.base.errors import Retriable
from connectors.salesforce.soql import literal
from schemas.risk import RiskScore
from stream.mapping import RiskMapping
from stream.pci import redact_text
from stream.runtime.sink import BatchSink, Item

CASE_PREFIX = "RISK-"


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


class RiskActionSink(BatchSink[RiskScore]):
    model = RiskScore

    async def write_one(self, item: Item[RiskScore]) -> None:
        risk = item.value
        config = self.ctx.mapping.risk
        sf_map = self.ctx.mapping.salesforce
        salesforce = self.ctx.connectors.salesforce()
        rows = await salesforce.query(
            f"SELECT Id, Account__c FROM {sf_map.object} "  # noqa: S608
            f"WHERE {sf_map.external_id_field} = {literal(risk.transaction_id)}"
        )
        if not rows:
            raise Retriable(
                f"{sf_map.object} {risk.transaction_id} is not in Salesforce yet",
                system="salesforce",
                code="risk_payment_unknown",
            )
        payment = rows[0]
        await salesforce.update(
            sf_map.object,
            payment["Id"],
            {config.score_field: f"{risk.score:.4f}", config.reasons_field: reasons_text(risk)},
        )
        if risk.score < config.review_threshold:
            return
        case_key = CASE_PREFIX + risk.transaction_id
        found = await salesforce.query(
            f"SELECT Id FROM Case WHERE {config.case_id_field} = {literal(case_key)}"  # noqa: S608
        )
        if not found:
            await salesforce.create("Case", case_fields(risk, payment, config))
