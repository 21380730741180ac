"""A PayTrace settlement batch as published on ``<prefix>.paytrace.settlements``, keyed by number.

Only what reconciliation needs: transaction ids, types, amounts and invoice ids. Card data goes
no further than the last four digits. Money is Decimal, times are UTC.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from schemas.payment import TRANSACTION_ID, Amount, UtcDateTime

# A batch's net amount is negative when refunds exceed sales.
SignedAmount = Annotated[
    Decimal,
    Field(max_digits=14, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]

REFUND_TYPES = frozenset({"REFUND"})


class SettledTransaction(BaseModel):
    model_config = ConfigDict(frozen=True)

    transaction_id: str = Field(pattern=TRANSACTION_ID)  # PayTrace's integer ids, as text
    transaction_type: str  # PayTrace's own: SALE, AUTHORIZATION (captured), REFUND, ...
    amount: Amount  # as PayTrace reports it: positive, refunds included
    invoice_id: str | None = None
    last_four: str | None = Field(default=None, pattern=r"^\d{4}$")
    created_at: UtcDateTime

    @property
    def is_refund(self) -> bool:
        return self.transaction_type.upper() in REFUND_TYPES

    @property
    def signed_amount(self) -> Decimal:
        """What the transaction adds to the batch: refunds take money back out."""
        return -self.amount if self.is_refund else self.amount


class SettlementBatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    batch_number: int = Field(ge=0)
    settled_at: UtcDateTime
    settled_on: date  # the merchant-local settlement day (what the books are dated)
    transaction_count: int = Field(ge=0)
    net_amount: SignedAmount
    sales_count: int = Field(ge=0)
    sales_amount: Amount
    refund_count: int = Field(ge=0)
    refund_amount: Amount
    transactions: list[SettledTransaction] = Field(default_factory=list)
    fetched_at: UtcDateTime
    merchant_timezone: str = "UTC"

    @property
    def key(self) -> bytes:
        return str(self.batch_number).encode()
