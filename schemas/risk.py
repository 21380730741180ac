"""The risk scorer's records: what it reads of a payment, and the score it publishes."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.payment import BILLING_KEY, TRANSACTION_ID, PaymentStatus, PaymentType, UtcDateTime


class RiskInput(BaseModel):
    """The fields of a canonical payment (schemas/payment.py) the risk flows read; the rest
    of the record is skipped unparsed, so scoring does not pay for the whole payment."""

    transaction_id: str = Field(pattern=TRANSACTION_ID)
    type: PaymentType
    status: PaymentStatus
    amount: float = Field(ge=0, allow_inf_nan=False)
    currency: str = ""
    # Any zone: only its instant is used (the UTC conversion of UtcDateTime costs ~40 %).
    occurred_at: AwareDatetime
    card_type: str | None = None
    last_four: str | None = Field(default=None, pattern=r"^\d{4}$")
    customer_vault_id: str | None = None
    avs_response: str | None = None
    csc_response: str | None = None
    local_hour: int | None = Field(default=None, ge=0, le=23)
    billing_key: str | None = Field(default=None, pattern=BILLING_KEY)


class RiskEvent(BaseModel):
    """What the risk keyer forwards to the scorer on ``payments_by_customer``: a payment's
    risk signals only, from a ``RiskInput`` the keyer validated, so the scorer parses a small
    record instead of the whole payment."""

    id: str = Field(pattern=TRANSACTION_ID)
    customer: str = Field(min_length=1, max_length=128)  # also the Kafka key
    type: PaymentType
    status: PaymentStatus
    amount: float = Field(ge=0, allow_inf_nan=False)
    at: int  # occurred_at in epoch seconds
    occurred_at: str = Field(max_length=40)  # as the payment had it, for the score record
    currency: str = Field(default="", max_length=3)
    avs: str | None = Field(default=None, max_length=80)
    csc: str | None = Field(default=None, max_length=80)
    hour: int | None = Field(default=None, ge=0, le=23)


class RiskScore(BaseModel):
    """A payment's risk score, keyed by the transaction id. A payment scored again later (the
    burst it started was seen) gets a new record with the higher score: the last one wins."""

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
