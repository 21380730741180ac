"""A payment's risk score, as the scorer publishes it (keyed by the transaction id)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.payment import TRANSACTION_ID, UtcDateTime


class RiskScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    transaction_id: str = Field(pattern=TRANSACTION_ID)
    customer_key: str = Field(max_length=128)  # vault id, billing key or card type + last four
    score: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list, max_length=10)
    occurred_at: UtcDateTime
    amount: str = ""  # as the payment has it, for the Case
    currency: str = ""
    payment_type: str = ""
    payment_status: str = ""
