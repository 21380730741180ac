"""A card dispute (retrieval request, chargeback and what follows) on ``<prefix>.disputes``.

Keyed by the disputed (original) PayTrace transaction id, so every stage of a dispute reaches
the same partition in order. One record is one *stage* of one case: ``idempotency_key``
(case id + stage) is what the sinks key their effects by, so the same notification delivered
again, or a report imported twice, changes nothing.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from schemas.payment import TRANSACTION_ID, UtcDateTime

# Case ids go into Sage Pro references and SOQL literals: plain text only, no separators.
CASE_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"
REASON_CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$"  # 10.4, 4837, 13.1, V1305 ...

DisputedAmount = Annotated[
    Decimal,
    Field(gt=0, max_digits=14, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]


class DisputeStage(StrEnum):
    RETRIEVAL_REQUEST = "retrieval_request"  # the issuer asks for documents; no money moved
    CHARGEBACK = "chargeback"  # the amount is taken back from the merchant
    REPRESENTMENT = "representment"  # the merchant answered; waiting for the issuer
    WON = "won"  # decided for the merchant: the money comes back
    LOST = "lost"  # decided for the cardholder: the money is gone
    REVERSED = "reversed"  # the issuer withdrew the chargeback: the money comes back


# How far along a case a stage is: a Case never moves back to an earlier rank.
STAGE_RANK = {
    DisputeStage.RETRIEVAL_REQUEST: 0,
    DisputeStage.CHARGEBACK: 1,
    DisputeStage.REPRESENTMENT: 2,
    DisputeStage.WON: 3,
    DisputeStage.LOST: 3,
    DisputeStage.REVERSED: 3,
}
FINAL_STAGES = frozenset({DisputeStage.WON, DisputeStage.LOST, DisputeStage.REVERSED})
# Stages whose response is still owed by the merchant (the due-soon gauge and alert).
OPEN_STAGES = frozenset({DisputeStage.RETRIEVAL_REQUEST, DisputeStage.CHARGEBACK})


class Dispute(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str = Field(pattern=CASE_ID)
    transaction_id: str = Field(pattern=TRANSACTION_ID)  # the disputed (original) sale
    amount: DisputedAmount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason_code: str = Field(pattern=REASON_CODE)
    reason: str = Field(default="", max_length=255)
    stage: DisputeStage
    due_date: date | None = None  # when the merchant's response is due
    received_at: UtcDateTime
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$")  # push:<sender> or import

    @property
    def idempotency_key(self) -> str:
        return f"{self.case_id}:{self.stage.value}"
