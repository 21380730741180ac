"""Deterministic outcomes: which inputs approve, decline or fail AVS/CSC, and the error keys.

The same table is in connectors/paytrace/EMULATOR.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")

# Cards that always decline (102), whatever the amount.
DECLINE_CARDS = frozenset({"4000000000000002", "5100000000000016", "4000000000009979"})
# Of those, cards the issuer reports lost or stolen (a hard decline), by their last four.
HARD_DECLINE_LAST_FOUR = {"9979": "DECLINE - Pick up card (lost or stolen)"}
# Amounts whose cents are these decline / fail AVS, so a demo can produce them with any card.
DECLINE_CENTS = 2  # e.g. 10.02
AVS_FAIL_CENTS = 3  # e.g. 10.03
AVS_FAIL_ZIP = "99999"
CSC_FAIL = "000"

# PayTrace error keys (the real ones) and the messages the emulator sends with them.
ERR_CUSTOMER_NOT_FOUND = "30"
ERR_CARD_NUMBER = "35"
ERR_EXPIRATION_MONTH = "43"
ERR_EXPIRATION_YEAR = "44"
ERR_TRANSACTION_ID = "58"
ERR_DUPLICATE_CUSTOMER = "171"
ERR_PERMISSION = "981"
# Refund of a transaction not settled yet (ActiveMerchant's remote PayTrace test quotes it).
ERR_NOT_SETTLED = "817"
# Not confirmed against PayTrace's list; the emulator's own choice (see EMULATOR.md).
ERR_AMOUNT = "39"
ERR_REQUEST = "1"

MESSAGES = {
    ERR_CUSTOMER_NOT_FOUND: "Customer ID, {customer_id}, was not found or is incomplete.",
    ERR_CARD_NUMBER: "Please provide a valid Credit Card Number.",
    ERR_EXPIRATION_MONTH: "Please provide a valid Expiration Month.",
    ERR_EXPIRATION_YEAR: "Please provide a valid Expiration Year.",
    ERR_TRANSACTION_ID: "Please provide a valid Transaction ID.",
    ERR_DUPLICATE_CUSTOMER: "Please provide a unique customer ID.",
    ERR_PERMISSION: "Log in failed for insufficient permissions.",
    ERR_AMOUNT: "Please provide a valid Amount.",
    ERR_NOT_SETTLED: "The Transaction ID that you provided could not be refunded. Only settled "
    "transactions can be refunded.  Please try to void the transaction instead.",
}

STATUS_MESSAGES = {
    101: "Your transaction was successfully approved.",
    102: "Your transaction was not approved.",
    103: "Your transaction was successfully approved. However, it was voided because your "
    "address and/or zip code information did not match.",
    106: "Your transaction was successfully refunded.",
    107: "Your transaction was not successfully refunded.",
    109: "Your transaction was successfully voided.",
    110: "Your transaction was not successfully voided.",
    112: "Your transaction was successfully captured.",
    113: "Your transaction was not successfully captured.",
}
CSC_VOID_MESSAGE = (
    "Your transaction was successfully approved. However, it was voided because your "
    "CSC did not match."
)


class RequestError(Exception):
    """A request PayTrace would refuse with ``errors``: key -> message, every one at once."""

    def __init__(self, key: str, message: str | None = None) -> None:
        self.key = key
        self.message = message or MESSAGES.get(key, "Invalid request.")
        super().__init__(self.message)
        self.errors: dict[str, str] = {key: self.message}

    @classmethod
    def of(cls, errors: dict[str, str]) -> RequestError:
        first, *_ = errors
        combined = cls(first, errors[first])
        combined.errors = dict(errors)
        return combined


class Validation:
    """Runs every field check and raises once with all their errors, as PayTrace does."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def check(self, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except RequestError as error:
            for key, message in error.errors.items():
                self.errors.setdefault(key, message)
            return None

    def done(self) -> None:
        if self.errors:
            raise RequestError.of(self.errors)


@dataclass(frozen=True)
class Card:
    """What the emulator keeps of a card: never the number or the CSC."""

    masked_number: str  # xxxxxxxxxxxx1111, as in PayTrace's transaction responses
    last_four: str
    card_type: str
    expiration_month: int
    expiration_year: int
    always_declines: bool

    @property
    def export_mask(self) -> str:
        return "*" * (len(self.masked_number) - 4) + self.last_four


@dataclass(frozen=True)
class Decision:
    response_code: int
    status_message: str
    approval_code: str
    approval_message: str
    avs_response: str
    csc_response: str

    @property
    def status(self) -> str:
        return {101: "APPROVED", 102: "DECLINED", 103: "AUTO_VOIDED"}[self.response_code]


def luhn_ok(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_type(number: str) -> str:
    if number.startswith("4"):
        return "VISA"
    if number[:2] in {"34", "37"}:
        return "AMEX"
    if number.startswith("6011") or number.startswith("65"):
        return "DISCOVER"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "MASTERCARD"
    return "OTHER"


def _card_number(raw: dict[str, Any]) -> str:
    number = str(raw.get("number", "")).replace(" ", "")
    if not (number.isdigit() and 13 <= len(number) <= 19 and luhn_ok(number)):
        raise RequestError(ERR_CARD_NUMBER)
    return number


def _expiry_month(raw: dict[str, Any]) -> int:
    try:
        month = int(raw.get("expiration_month", 0))
    except (TypeError, ValueError):
        month = 0
    if not 1 <= month <= 12:
        raise RequestError(ERR_EXPIRATION_MONTH)
    return month


def _expiry_year(raw: dict[str, Any], month: int | None, today: date) -> int:
    try:
        year = int(raw.get("expiration_year", -1))
    except (TypeError, ValueError):
        year = -1
    year = year + 2000 if 0 <= year < 100 else year
    expired = year < today.year or (year == today.year and (month or 12) < today.month)
    if expired or year > today.year + 20:
        raise RequestError(ERR_EXPIRATION_YEAR)
    return year


def parse_card(raw: Any, today: date) -> Card:
    """Number, month and year are checked independently; all their errors come back."""
    if not isinstance(raw, dict):
        raw = {}
    checks = Validation()
    number = checks.check(lambda: _card_number(raw))
    month = checks.check(lambda: _expiry_month(raw))
    year = checks.check(lambda: _expiry_year(raw, month, today))
    checks.done()
    assert number is not None and month is not None and year is not None
    return Card(
        masked_number="x" * (len(number) - 4) + number[-4:],
        last_four=number[-4:],
        card_type=card_type(number),
        expiration_month=month,
        expiration_year=year,
        always_declines=number in DECLINE_CARDS,
    )


def parse_cents(raw: Any, *, required: bool = True) -> int | None:
    if raw is None or raw == "":
        if required:
            raise RequestError(ERR_AMOUNT)
        return None
    try:
        amount = Decimal(str(raw))
    except InvalidOperation as exc:
        raise RequestError(ERR_AMOUNT) from exc
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise RequestError(ERR_AMOUNT)
    return int(amount * 100)


def approval_code(transaction_id: int) -> str:
    return f"TAS{transaction_id % 1000:03d}"


def decide(
    transaction_id: int,
    cents: int,
    card: Card,
    csc: str | None,
    billing_zip: str | None,
) -> Decision:
    """Approve, decline (102) or approve-then-void on AVS/CSC mismatch (103)."""
    avs = "" if billing_zip is None else "Full Exact Match"
    csc_response = "" if not csc else "Match"
    if card.always_declines or cents % 100 == DECLINE_CENTS:
        message = "DECLINE - Do not honor"
        if card.always_declines:
            message = HARD_DECLINE_LAST_FOUR.get(card.last_four, message)
        return Decision(102, STATUS_MESSAGES[102], "", message, avs, csc_response)
    code = approval_code(transaction_id)
    approved = f"APPROVAL {code} - Approved and completed"
    if billing_zip == AVS_FAIL_ZIP or cents % 100 == AVS_FAIL_CENTS:
        return Decision(103, STATUS_MESSAGES[103], code, approved, "No Match", csc_response)
    if csc == CSC_FAIL:
        return Decision(103, CSC_VOID_MESSAGE, code, approved, avs, "No Match")
    return Decision(101, STATUS_MESSAGES[101], code, approved, avs, csc_response)
