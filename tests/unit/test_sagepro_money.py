"""Money on the Sage Pro wire: two-place Decimals, strings out, strict parsing in."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.sagepro.models import Payment
from connectors.sagepro.money import MoneyError, format_cents, from_cents, parse_money, to_cents

cents = st.integers(min_value=-(10**11), max_value=10**11)


@given(cents)
def test_cents_round_trip_through_the_wire_string(value: int) -> None:
    text = format_cents(value)
    assert to_cents(parse_money(text)) == value
    assert from_cents(value) == Decimal(text)
    assert text.count(".") == 1 and len(text.split(".")[1]) == 2


@given(cents)
def test_json_numbers_decoded_as_float_keep_their_value(value: int) -> None:
    as_float = float(format_cents(value))  # what a JSON parser hands over
    assert to_cents(parse_money(as_float)) == value


@given(st.decimals(places=3, min_value=-(10**9), max_value=10**9))
def test_three_places_rejected_unless_exact(amount: Decimal) -> None:
    if amount == amount.quantize(Decimal("0.01")):
        assert parse_money(amount) == amount
        assert parse_money(str(amount)) == amount
    else:
        with pytest.raises(MoneyError):
            parse_money(amount)


BAD_AMOUNTS = ["12.345", "1e40", 10**40, "9" * 40 + ".5", "abc", "NaN", "Infinity", True, None, ""]


@pytest.mark.parametrize("bad", BAD_AMOUNTS)
def test_bad_amounts_rejected(bad: object) -> None:
    with pytest.raises(MoneyError):
        parse_money(bad)


def test_model_serialises_money_as_two_place_strings() -> None:
    payment = Payment(
        payment_reference="T1",
        payment_date="2024-05-01",
        amount=Decimal("7.5"),
        customer_id="C1",
    )
    wire = payment.wire()
    assert wire["Amount"] == "7.50"
    assert payment.amount == Decimal("7.50")
    assert Payment.model_validate({**wire, "Amount": 7}).amount == Decimal("7.00")
    with pytest.raises(ValueError, match="two decimal places"):
        Payment.model_validate({**wire, "Amount": "7.505"})
