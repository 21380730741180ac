"""Sink flow: disputes -> the disputed ``Payment__c``'s status and one high-priority Case.

The Case is found by its case id (``Dispute_Case_Id__c``), never by subject: the first stage
creates it linked to the payment's Account (and Opportunity/Order when the payment names them),
with the reason code and the response due date; later stages update that same Case, and a
stage older than the Case's (a notification delivered late or twice) never moves it back.
``Payment__c.Status__c`` becomes the mapping's chargeback status on chargeback and lost, and
its settled status again on won or reversed. A dispute whose payment is not in Salesforce yet
is dead-lettered ``dispute_payment_unknown`` (re-drive it once the payment is in).

The flow's table keeps, per disputed transaction, each case's stage and due date: the
``paystream_disputes_due_soon`` gauge counts open cases due within
``PAYSTREAM_DISPUTE_DUE_SOON_DAYS``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from connectors.salesforce.soql import literal
from schemas.dispute import OPEN_STAGES, STAGE_RANK, Dispute, DisputeStage
from schemas.payment import PaymentStatus
from stream import metrics
from stream.pci import redact_text
from stream.runtime.outcomes import Rejected
from stream.runtime.sink import BatchSink, Item
from stream.settings import FileBackedSettings

CASE_ID_FIELD = "Dispute_Case_Id__c"
CASE_FIELDS = (
    CASE_ID_FIELD,
    "Dispute_Stage__c",
    "Dispute_Reason_Code__c",
    "Dispute_Due_Date__c",
    "Dispute_Amount__c",
    "Dispute_Transaction_Id__c",
    "Payment__c",
    "Opportunity__c",
    "Order__c",
)
CASE_STATUS = {
    DisputeStage.RETRIEVAL_REQUEST: "New",
    DisputeStage.CHARGEBACK: "Escalated",
    DisputeStage.REPRESENTMENT: "Working",
    DisputeStage.WON: "Closed",
    DisputeStage.LOST: "Closed",
    DisputeStage.REVERSED: "Closed",
}
GAUGE_SECONDS = 30.0


class DisputeSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_DISPUTE_", title="disputes")

    due_soon_days: int = Field(default=3, ge=0)


def due_soon(cases: list[str], today: date, days: int) -> int:
    """Open cases (table values) whose response is due within ``days`` (or overdue)."""
    count = 0
    for raw in cases:
        for case in orjson.loads(raw).values() if raw else ():
            due = case.get("due")
            if due and case.get("stage") in OPEN_STAGES:
                count += date.fromisoformat(due) <= today + timedelta(days=days)
    return count


def case_fields(dispute: Dispute, payment: dict[str, Any]) -> dict[str, Any]:
    reason = redact_text(f"{dispute.reason_code} {dispute.reason}".strip())
    fields: dict[str, Any] = {
        "Subject": redact_text(f"Chargeback {dispute.case_id}: {dispute.reason_code}")[:255],
        "Priority": "High",
        "Status": CASE_STATUS[dispute.stage],
        "Reason": reason[:255],
        "Description": redact_text(
            f"{dispute.stage.value}: {dispute.amount:.2f} {dispute.currency} disputed on PayTrace "
            f"transaction {dispute.transaction_id}; reason {reason}; response due "
            f"{dispute.due_date.isoformat() if dispute.due_date else 'not given'}"
        ),
        CASE_ID_FIELD: dispute.case_id,
        "Dispute_Stage__c": dispute.stage.value,
        "Dispute_Reason_Code__c": dispute.reason_code,
        "Dispute_Amount__c": f"{dispute.amount:.2f}",
        "Dispute_Transaction_Id__c": dispute.transaction_id,
        "Payment__c": payment["Id"],
    }
    if dispute.due_date is not None:
        fields["Dispute_Due_Date__c"] = dispute.due_date.isoformat()
    if payment.get("Account__c"):
        fields["AccountId"] = payment["Account__c"]
    for name in ("Opportunity__c", "Order__c"):
        if payment.get(name):
            fields[name] = payment[name]
    return fields


class SalesforceDisputeSink(BatchSink[Dispute]):
    model = Dispute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases = self.table("dispute-cases")
        self.due_days = DisputeSettings().due_soon_days

    def attach(self) -> None:
        super().attach()
        self.every(GAUGE_SECONDS, self.measure_due, name="disputes_due_soon")

    async def measure_due(self) -> None:
        today = datetime.now(UTC).date()
        metrics.DISPUTES_DUE_SOON.set(due_soon(list(self.cases.values()), today, self.due_days))

    async def write_one(self, item: Item[Dispute]) -> None:
        dispute = item.value
        salesforce = self.ctx.connectors.salesforce()
        sf_map = self.ctx.mapping.salesforce
        rows = await salesforce.query(
            f"SELECT Id, Status__c, Account__c, Opportunity__c, Order__c FROM {sf_map.object} "  # noqa: S608
            f"WHERE {sf_map.external_id_field} = {literal(dispute.transaction_id)}"
        )
        if not rows:
            raise Rejected(
                "dispute_payment_unknown",
                f"dispute {dispute.case_id}: no {sf_map.object} {dispute.transaction_id} yet",
            )
        payment = rows[0]
        found = await salesforce.query(
            f"SELECT Id, Dispute_Stage__c FROM Case WHERE {CASE_ID_FIELD} = "  # noqa: S608
            f"{literal(dispute.case_id)}"
        )
        fields = case_fields(dispute, payment)
        current = found[0] if found else None
        if current is None:
            await salesforce.create("Case", fields)
        elif _rank(current.get("Dispute_Stage__c")) <= STAGE_RANK[dispute.stage]:
            await salesforce.update("Case", current["Id"], fields)
        else:
            return self._remember(dispute, stale=True)  # an older stage: the Case stays ahead
        status = self._payment_status(dispute.stage)
        if status is not None and payment.get("Status__c") != status:
            await salesforce.update(sf_map.object, payment["Id"], {"Status__c": status})
        self._remember(dispute)

    def _payment_status(self, stage: DisputeStage) -> str | None:
        labels = self.ctx.mapping.salesforce.status
        if stage in (DisputeStage.CHARGEBACK, DisputeStage.LOST):
            return labels.get(PaymentStatus.CHARGEBACK)
        if stage in (DisputeStage.WON, DisputeStage.REVERSED):
            return labels.get(PaymentStatus.SETTLED)
        return None

    def _remember(self, dispute: Dispute, stale: bool = False) -> None:
        key = dispute.transaction_id.encode()
        cases = orjson.loads(self.cases[key]) if self.cases[key] else {}
        if not stale or dispute.case_id not in cases:
            cases[dispute.case_id] = {
                "stage": dispute.stage.value,
                "due": dispute.due_date.isoformat() if dispute.due_date else None,
            }
            self.cases[key] = orjson.dumps(cases).decode()
        metrics.DISPUTES.labels(dispute.stage.value).inc()


def _rank(stage: object) -> int:
    try:
        return STAGE_RANK[DisputeStage(str(stage))]
    except ValueError:
        return -1
