"""Money on the Sage Pro wire: Decimal with exactly two places, sent as JSON strings.

Strings (``"12.50"``) survive every JSON library unchanged; JSON numbers are accepted on input
but only when they carry no more than two decimal places. Floats are never used for arithmetic:
the emulator stores integer cents and the client keeps ``Decimal``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

CENT = Decimal("0.01")


class MoneyError(ValueError):
    """A value that is not an amount of money with at most two decimal places."""


def parse_money(value: Any) -> Decimal:
    """Strict: str/int/Decimal (and floats via their shortest repr); at most two places."""
    if isinstance(value, bool):
        raise MoneyError("expected an amount, got a boolean")
    if isinstance(value, float):
        # A JSON number decoded as float: its shortest repr is what the sender wrote.
        value = repr(value)
    if isinstance(value, int):
        value = Decimal(value)
    if isinstance(value, str | Decimal):
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else value)
        except InvalidOperation as exc:
            raise MoneyError(f"not a decimal amount: {value!r}") from exc
        if not amount.is_finite():
            raise MoneyError("amount must be finite")
        try:
            rounded = amount.quantize(CENT)
        except InvalidOperation as exc:  # more digits than the context's precision
            raise MoneyError("amount is out of range") from exc
        if amount != rounded:
            raise MoneyError("amount has more than two decimal places")
        return rounded
    raise MoneyError(f"expected an amount, got {type(value).__name__}")


def to_cents(amount: Decimal) -> int:
    return int(amount.quantize(CENT) * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def format_cents(cents: int) -> str:
    """Integer cents as the wire string, e.g. -1250 -> "-12.50"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def _serialise(amount: Decimal) -> str:
    return format_cents(to_cents(amount))


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(_serialise, return_type=str, when_used="json"),
]
