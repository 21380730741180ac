"""PayTrace models: documented example bodies parse; secrets stay hidden; money and time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.paytrace.models import (
    CreatedInfo,
    CustomerResult,
    ExportedTransaction,
    KeyedTransactionRequest,
    ResponseCode,
    TokenResponse,
    TransactionExport,
    TransactionResult,
    TransactionType,
    format_export_time,
)

DOCS = json.loads(
    (Path(__file__).parents[1] / "fixtures/paytrace/documented_examples.json").read_text()
)
PACIFIC = ZoneInfo("America/Los_Angeles")


def test_documented_token_response_parses_and_hides_token() -> None:
    token = TokenResponse.model_validate(DOCS["oauth_token"])
    assert token.expires_in == 7200 and token.token_type == "bearer"
    assert "4656d6f6" not in repr(token)
    assert token.access_token.get_secret_value().startswith("4656d6f6")


def test_documented_sale_response_parses_as_approved() -> None:
    result = TransactionResult.model_validate(DOCS["sale_by_customer_response"])
    assert result.approved and not result.declined
    assert result.outcome is ResponseCode.APPROVED
    assert result.transaction_id == 79223005
    assert result.approval_code == "TAS212"


def test_documented_customer_responses_parse() -> None:
    created = CustomerResult.model_validate(DOCS["create_customer_response"])
    updated = CustomerResult.model_validate(DOCS["update_customer_response"])
    assert created.response_code == ResponseCode.CUSTOMER_CREATED
    assert updated.response_code == ResponseCode.CUSTOMER_UPDATED
    assert created.masked_card_number == "xxxxxxxxxxxx1111"
    assert created.already_existed is False


def test_documented_export_parses_with_local_times() -> None:
    export = TransactionExport.model_validate(
        DOCS["export_by_date_range_response"], context={"tz": PACIFIC}
    )
    (record,) = export.transactions
    assert record.transaction_type is TransactionType.SALE
    assert record.amount == Decimal("110")
    assert record.tax_amount == Decimal("8.10")
    assert record.created.at == datetime(2015, 4, 10, 16, 6, 30, tzinfo=PACIFIC)
    assert record.settled == datetime(2015, 4, 10, 20, 13, 45, tzinfo=PACIFIC)
    assert record.credit_card is not None
    assert record.credit_card.masked_number.endswith("5454")
    assert record.billing_address is not None and record.billing_address.city == "Spokane"


def test_documented_keyed_request_round_trips_through_our_model() -> None:
    request = KeyedTransactionRequest.model_validate(DOCS["keyed_sale_request"])
    body = request.api_body()
    assert body["credit_card"]["number"] == "4111111111111111"
    assert body["csc"] == "999"
    assert body["amount"] == "1.00"
    assert set(body) == set(DOCS["keyed_sale_request"])


def test_card_number_and_csc_never_in_repr_str_or_plain_dump() -> None:
    request = KeyedTransactionRequest.model_validate(DOCS["keyed_sale_request"])
    for text in (repr(request), str(request), request.model_dump_json(), str(request.model_dump())):
        assert "4111111111111111" not in text
        assert "999" not in text


def test_unknown_transaction_type_is_kept_not_rejected() -> None:
    record = ExportedTransaction.model_validate(
        {
            "transaction_id": 1,
            "transaction_type": "CASH_ADVANCE",
            "amount": "1.00",
            "created": {"at": "1/2/2024 9:05:00 AM"},
            "settled": "",
        }
    )
    assert record.transaction_type == "CASH_ADVANCE"
    assert record.settled is None


def test_amount_must_be_positive_with_two_decimals() -> None:
    card = {"number": "4111111111111111", "expiration_month": 1, "expiration_year": 2030}
    for bad in ("0", "-1.00", "1.001"):
        with pytest.raises(ValidationError):
            KeyedTransactionRequest(amount=Decimal(bad), credit_card=card)  # type: ignore[arg-type]


@given(cents=st.integers(min_value=1, max_value=10**11))
def test_amount_serialises_as_exact_two_place_string(cents: int) -> None:
    amount = Decimal(cents) / 100
    request = KeyedTransactionRequest(
        amount=amount,
        credit_card={"number": "4111111111111111", "expiration_month": 1, "expiration_year": 30},  # type: ignore[arg-type]
    )
    sent = request.api_body()["amount"]
    assert Decimal(sent) == amount
    assert sent.split(".")[1].__len__() == 2


@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    )
)
def test_export_time_format_round_trips(moment: datetime) -> None:
    text = format_export_time(moment)
    assert not text.startswith("0")
    parsed = CreatedInfo.model_validate({"at": text}).at
    assert parsed == moment


def test_export_time_gets_zone_from_context_and_handles_noon_midnight() -> None:
    assert format_export_time(datetime(2024, 3, 5, 0, 7, 9)) == "3/5/2024 12:07:09 AM"
    assert format_export_time(datetime(2024, 3, 5, 12, 0, 0)) == "3/5/2024 12:00:00 PM"
    aware = CreatedInfo.model_validate({"at": "3/10/2024 3:30:00 AM"}, context={"tz": PACIFIC}).at
    # The day US clocks spring forward: 3:30 AM local is already PDT (UTC-7).
    assert aware.utcoffset() == timedelta(hours=-7)
