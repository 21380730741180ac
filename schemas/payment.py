"""The canonical payment event: what every sink consumes, whatever the source."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_utc)]
Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]


class PaymentType(StrEnum):
    SALE = "sale"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"
    CHARGEBACK = "chargeback"


class PaymentStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    SETTLED = "settled"
    VOIDED = "voided"
    REFUNDED = "refunded"
    FAILED = "failed"
    CHARGEBACK = "chargeback"


class References(BaseModel):
    """Where this payment belongs in the other systems (from ID correlation rules)."""

    model_config = ConfigDict(frozen=True)

    opportunity_id: str | None = None
    order_id: str | None = None
    account_id: str | None = None
    erp_invoice_id: str | None = None
    erp_customer_id: str | None = None
    subscription_id: str | None = None  # a recurring charge's Salesforce subscription


TRANSACTION_ID = r"^[0-9]{1,18}$"
# 16 letters a-p (stream/transform.billing_key): never a digit, so never read as a card number
# and masked by the outbound PCI scan. Hex keys written before that still parse.
BILLING_KEY = r"^(?:[a-p]{16}|[0-9a-f]{16})$"


class Payment(BaseModel):
    """One PayTrace transaction in its current state. Keyed by ``transaction_id`` on topics."""

    model_config = ConfigDict(frozen=True)

    # PayTrace's ids are integers; as text they key topics and name Sage Pro payments, so
    # nothing else (a path, a card number typed into a field) may stand in for one.
    transaction_id: str = Field(pattern=TRANSACTION_ID)
    type: PaymentType
    status: PaymentStatus
    source_status: str = ""  # the gateway's own wording, kept for mapping and audits
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: UtcDateTime
    settled_at: UtcDateTime | None = None
    card_type: str | None = None
    last_four: str | None = Field(default=None, pattern=r"^\d{4}$")
    customer_vault_id: str | None = None
    original_transaction_id: str | None = Field(default=None, pattern=TRANSACTION_ID)
    response_code: int | None = None
    approval_code: str | None = None
    description: str | None = None
    references: References = References()
    custom_fields: dict[str, str] = Field(default_factory=dict)
    # Risk signals (stream/risk_features.py); optional so records written before them parse.
    avs_response: str | None = None  # PayTrace's wording, e.g. "Full Exact Match", "No Match"
    csc_response: str | None = None  # "Match", "No Match", "Not Processed", ...
    approval_message: str | None = None
    local_hour: int | None = Field(default=None, ge=0, le=23)  # in the merchant's time zone
    # SHA-256 (64 bits as 16 letters) of the billing name and zip, lower-cased: tells customers
    # without a vault id apart without carrying a name on the topic.
    billing_key: str | None = Field(default=None, pattern=BILLING_KEY)

    @property
    def settled(self) -> bool:
        return self.settled_at is not None

    def fingerprint(self) -> str:
        """What makes a state change worth re-emitting (dedupe key per transaction)."""
        settled = self.settled_at.isoformat() if self.settled_at else ""
        # 110 and 110.00 are one amount (sources differ in how they write it): compare cents.
        return f"{self.status}|{self.amount:.2f}|{settled}"
