"""Canonical payment -> Payment__c upsert fields, per the default mapping."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from schemas.payment import Payment, PaymentStatus, PaymentType, References
from stream.mapping import DEFAULT_MAPPING, Mapping, load_mapping
from stream.to_salesforce import payment_record

MAPPING = load_mapping()
SALESFORCE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$")


def payment(**changes: Any) -> Payment:
    fields: dict[str, Any] = {
        "transaction_id": "1000123",
        "type": PaymentType.SALE,
        "status": PaymentStatus.APPROVED,
        "source_status": "APPROVED",
        "amount": Decimal("110.00"),
        "currency": "USD",
        "occurred_at": datetime(2024, 7, 4, 16, 15, 5, tzinfo=UTC),
    }
    fields.update(changes)
    return Payment(**fields)


def test_a_full_payment() -> None:
    record = payment_record(
        payment(
            card_type="VISA",
            last_four="1111",
            customer_vault_id="cust-42",
            description="rep=Dana Reyes;campaign=Spring Promo",
            references=References(
                opportunity_id="006Dn00000ABCDEFGH",
                order_id="801Dn00000ABCDEFGH",
                account_id="001Dn00000ABCDEFGH",
                erp_invoice_id="INV-1",
                erp_customer_id="cust-42",
            ),
            custom_fields={"SalesRepID": "Dana Reyes", "Campaign_Source": "Spring Promo"},
        ),
        MAPPING,
    )
    assert record == {
        "PaymentID__c": "1000123",
        "Amount__c": 110.0,
        "Currency__c": "USD",
        "Status__c": "Completed",
        "TransactionType__c": "Sale",
        "TransactionDate__c": "2024-07-04T16:15:05.000Z",
        "PaymentMethodType__c": "Visa",
        "Last4Digits__c": "1111",
        "CustomerVaultID__c": "cust-42",
        "Opportunity__c": "006Dn00000ABCDEFGH",
        "Order__c": "801Dn00000ABCDEFGH",
        "Account__c": "001Dn00000ABCDEFGH",
        "SalesRepID__c": "Dana Reyes",
        "Campaign_Source__c": "Spring Promo",
    }
    json.dumps(record)  # goes out as a JSON body as it is


def test_empty_values_are_left_out_but_the_external_id_is_always_there() -> None:
    record = payment_record(payment(custom_fields={"SalesRepID": ""}), MAPPING)
    assert record == {
        "PaymentID__c": "1000123",
        "Amount__c": 110.0,
        "Currency__c": "USD",
        "Status__c": "Completed",
        "TransactionType__c": "Sale",
        "TransactionDate__c": "2024-07-04T16:15:05.000Z",
    }
    assert None not in record.values() and "" not in record.values()


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (PaymentStatus.APPROVED, PaymentType.SALE, "Completed"),
        (PaymentStatus.CAPTURED, PaymentType.AUTHORIZATION, "Completed"),
        (PaymentStatus.SETTLED, PaymentType.SALE, "Settled"),
        (PaymentStatus.AUTHORIZED, PaymentType.AUTHORIZATION, "Authorized"),
        (PaymentStatus.DECLINED, PaymentType.SALE, "Failed"),
        (PaymentStatus.FAILED, PaymentType.REFUND, "Failed"),
        (PaymentStatus.VOIDED, PaymentType.SALE, "Voided"),
        (PaymentStatus.REFUNDED, PaymentType.REFUND, "Refunded"),
        (PaymentStatus.CHARGEBACK, PaymentType.CHARGEBACK, "Chargeback"),
    ],
)
def test_statuses(status: PaymentStatus, kind: PaymentType, expected: str) -> None:
    record = payment_record(payment(status=status, type=kind), MAPPING)
    assert record["Status__c"] == expected
    assert record["TransactionType__c"] == kind.value.title()


@pytest.mark.parametrize(
    ("card", "shown"),
    [
        ("VISA", "Visa"),
        ("MASTERCARD", "MasterCard"),
        ("AMEX", "American Express"),
        ("DISCOVER", "Discover"),
        ("JCB", "Jcb"),  # not in the mapping: title case
    ],
)
def test_card_types(card: str, shown: str) -> None:
    assert payment_record(payment(card_type=card), MAPPING)["PaymentMethodType__c"] == shown


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2099, 12, 31),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_datetimes_are_utc_in_salesforce_format(moment: datetime) -> None:
    record = payment_record(payment(occurred_at=moment), MAPPING)
    text = record["TransactionDate__c"]
    assert SALESFORCE_DATETIME.match(text)
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
    assert parsed == moment.replace(microsecond=0)


@given(st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2))
def test_amounts_keep_their_value_as_json_numbers(amount: Decimal) -> None:
    value = payment_record(payment(amount=amount), MAPPING)["Amount__c"]
    assert isinstance(value, float)
    assert Decimal(json.dumps(value)) == amount  # what Salesforce parses is the amount


def _mapping_with_fields(fields: dict[str, str]) -> Mapping:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_MAPPING.read_text())
    data["salesforce"]["fields"] = fields
    data["salesforce"]["external_id_field"] = "PayTrace_Id__c"
    return Mapping.model_validate(data)


def test_other_canonical_paths_and_external_id_field() -> None:
    mapping = _mapping_with_fields(
        {
            "Day__c": "occurred_on",
            "Settled__c": "settled_at",
            "Original__c": "original_transaction_id",
            "Invoice__c": "references.erp_invoice_id",
            "Approval__c": "approval_code",
            "Code__c": "response_code",
        }
    )
    record = payment_record(
        payment(
            status=PaymentStatus.SETTLED,
            occurred_at=datetime(2024, 7, 4, 23, 30, tzinfo=UTC),
            settled_at=datetime(2024, 7, 5, 9, 0, tzinfo=UTC),
            original_transaction_id="999",
            approval_code="TAS212",
            response_code=101,
            references=References(erp_invoice_id="INV-1"),
        ),
        mapping,
    )
    assert record == {
        "PayTrace_Id__c": "1000123",
        "Day__c": "2024-07-04",
        "Settled__c": "2024-07-05T09:00:00.000Z",
        "Original__c": "999",
        "Invoice__c": "INV-1",
        "Approval__c": "TAS212",
        "Code__c": 101,
    }
    json.dumps(record)


def test_the_payment_is_not_changed() -> None:
    original = payment(custom_fields={"SalesRepID": "x"})
    before = original.model_dump()
    payment_record(original, MAPPING)
    assert original.model_dump() == before
