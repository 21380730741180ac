"""Typed shapes of PayTrace v1 JSON requests and responses.

Card numbers and CSCs are ``SecretStr``: they print as ``**********`` and only
``api_body()`` reveals them, for the request body sent to PayTrace. Money is ``Decimal``.
Export timestamps use PayTrace's ``M/D/YYYY h:mm:ss AM`` merchant-local format; validate with
``context={"tz": ZoneInfo(...)}`` to get aware datetimes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    ValidationInfo,
    field_serializer,
    field_validator,
)

EXPORT_TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
API_DATE_FORMAT = "%m/%d/%Y"

# Amounts go out as "12.34" strings, as in PayTrace's documented requests.
Money = Annotated[
    Decimal,
    Field(gt=0, max_digits=12, decimal_places=2),
    PlainSerializer(lambda v: f"{v:.2f}", return_type=str, when_used="json"),
]


class ResponseCode(IntEnum):
    OK = 1  # export/query requests; also "errors occurred" when success is false
    APPROVED = 101
    DECLINED = 102
    AUTO_VOIDED = 103  # approved, then voided for an AVS/CSC mismatch
    REFUNDED = 106
    REFUND_FAILED = 107
    VOIDED = 109
    VOID_FAILED = 110
    CAPTURED = 112
    CAPTURE_FAILED = 113
    CUSTOMER_CREATED = 160
    CUSTOMER_UPDATED = 161
    CUSTOMER_DELETED = 162


class TransactionType(StrEnum):
    SALE = "SALE"
    AUTHORIZATION = "AUTHORIZATION"
    REFUND = "REFUND"
    VOID = "VOID"
    CAPTURE = "CAPTURE"
    FORCE = "FORCE"


def _reveal(value: SecretStr | None, info: SerializationInfo) -> str | None:
    if value is None:
        return None
    context = info.context or {}
    return value.get_secret_value() if context.get("reveal_secrets") else str(value)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def api_body(self) -> dict[str, Any]:
        """The JSON body for PayTrace, secrets included. Never log the result."""
        body: dict[str, Any] = self.model_dump(
            mode="json", exclude_none=True, context={"reveal_secrets": True}
        )
        return body


class Address(BaseModel):
    model_config = ConfigDict(coerce_numbers_to_str=True)

    name: str | None = None
    street_address: str | None = None
    street_address2: str | None = None
    city: str | None = None
    county: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class CreditCard(_Request):
    number: SecretStr
    expiration_month: int = Field(ge=1, le=12)
    expiration_year: int = Field(ge=0, le=9999)

    _number = field_serializer("number")(_reveal)


class _Transaction(_Request):
    amount: Money
    invoice_id: str | None = Field(default=None, max_length=50)
    customer_reference_id: str | None = Field(default=None, max_length=50)
    description: str | None = None
    tax_amount: Decimal | None = None
    email: str | None = None
    integrator_id: str | None = None

    @field_serializer("tax_amount", when_used="json")
    def _tax(self, value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.2f}"


class KeyedTransactionRequest(_Transaction):
    """Sale, authorization or refund with a card number typed in."""

    credit_card: CreditCard
    csc: SecretStr | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None

    _csc = field_serializer("csc")(_reveal)


class CustomerTransactionRequest(_Transaction):
    """Sale or authorization charged to a vaulted customer."""

    customer_id: str = Field(min_length=1, max_length=50)
    csc: SecretStr | None = None

    _csc = field_serializer("csc")(_reveal)


class CaptureRequest(_Request):
    transaction_id: int
    amount: Money | None = None
    integrator_id: str | None = None


class VoidRequest(_Request):
    transaction_id: int
    integrator_id: str | None = None


class RefundTransactionRequest(_Request):
    transaction_id: int
    amount: Money | None = None  # None refunds what is left of the original
    integrator_id: str | None = None


class CustomerRequest(_Request):
    customer_id: str = Field(min_length=1, max_length=50)
    credit_card: CreditCard | None = None
    csc: SecretStr | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    email: str | None = None
    phone: str | None = None
    fax: str | None = None
    new_id: str | None = None  # update only: rename the customer id
    integrator_id: str | None = None

    _csc = field_serializer("csc")(_reveal)


class DateRangeRequest(_Request):
    model_config = ConfigDict(extra="allow")  # PayTrace's optional filters

    start_date: str
    end_date: str


class TokenResponse(BaseModel):
    access_token: SecretStr
    token_type: str
    expires_in: int


class PayTraceResponse(BaseModel):
    success: bool
    response_code: int
    status_message: str = ""
    external_transaction_id: str | None = None


class TransactionResult(PayTraceResponse):
    """Outcome of sale/authorize/capture/void/refund; declines are results, not errors."""

    transaction_id: int | None = None
    approval_code: str = ""
    approval_message: str = ""
    avs_response: str = ""
    csc_response: str = ""
    masked_card_number: str | None = None

    @property
    def approved(self) -> bool:
        return self.success and self.response_code in {
            ResponseCode.APPROVED,
            ResponseCode.REFUNDED,
            ResponseCode.VOIDED,
            ResponseCode.CAPTURED,
        }

    @property
    def declined(self) -> bool:
        return self.response_code == ResponseCode.DECLINED

    @property
    def outcome(self) -> ResponseCode | int:
        try:
            return ResponseCode(self.response_code)
        except ValueError:
            return self.response_code


class CustomerResult(PayTraceResponse):
    customer_id: str
    masked_card_number: str | None = None
    already_existed: bool = False  # create answered "duplicate customer id" (171)


def parse_export_time(value: Any, info: ValidationInfo) -> datetime | None:
    """PayTrace's local ``4/10/2015 4:06:30 PM``; aware when the context names a zone."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.strptime(str(value).strip(), EXPORT_TIME_FORMAT)
    zone = (info.context or {}).get("tz")
    if parsed.tzinfo is None and zone is not None:
        parsed = parsed.replace(tzinfo=zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    return parsed


def format_export_time(moment: datetime) -> str:
    """Inverse of ``parse_export_time``: no zero padding on month, day and hour."""
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return (
        f"{moment.month}/{moment.day}/{moment.year} "
        f"{hour}:{moment.minute:02d}:{moment.second:02d} {suffix}"
    )


class CreatedInfo(BaseModel):
    through: str = ""
    at: datetime
    by: str = ""
    from_ip: str = ""

    _at = field_validator("at", mode="before")(parse_export_time)


class CardSummary(BaseModel):
    masked_number: str = ""
    expiration_month: int | None = None
    expiration_year: int | None = None


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


class ExportedTransaction(BaseModel):
    transaction_id: int
    transaction_type: Annotated[TransactionType | str, Field(union_mode="left_to_right")]
    status: str | None = None
    description: str = ""
    amount: Decimal
    invoice_id: str = ""
    customer_reference_id: str = ""
    customer_id: str = ""
    credit_card: CardSummary | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    receipt_emailed_to: str = ""
    tax_amount: Decimal | None = None
    approval_code: str = ""
    approval_message: str = ""
    avs_response: str = ""
    csc_response: str = ""
    status_code: str = ""
    status_message: str = ""
    created: CreatedInfo
    settled: datetime | None = None
    original_transaction_id: int | None = None
    batch_number: int | None = None

    _tax = field_validator("tax_amount", mode="before")(_blank_to_none)
    _settled = field_validator("settled", mode="before")(parse_export_time)


class TransactionExport(PayTraceResponse):
    transactions: list[ExportedTransaction] = Field(default_factory=list)


class ExportedCustomer(BaseModel):
    customer_id: str
    credit_card: CardSummary | None = None
    billing_address: Address | None = None
    shipping_address: Address | None = None
    email: str = ""
    phone: str = ""
    fax: str = ""
    created: CreatedInfo | None = None


class CustomerExport(PayTraceResponse):
    customers: list[ExportedCustomer] = Field(default_factory=list)


class ExportedBatch(BaseModel):
    batch_number: int
    settled: datetime
    transaction_count: int
    net_amount: Decimal
    sales_count: int
    sales_amount: Decimal
    refund_count: int
    refund_amount: Decimal
    transactions: list[ExportedTransaction] = Field(default_factory=list)

    _settled = field_validator("settled", mode="before")(parse_export_time)


class SettleResult(PayTraceResponse):
    """``transactions/settle``: the batch it closed (None when nothing was pending)."""

    batch_number: int | None = None
    transaction_count: int = 0
    net_amount: Decimal = Decimal(0)


class BatchExport(PayTraceResponse):
    batches: list[ExportedBatch] = Field(default_factory=list)
