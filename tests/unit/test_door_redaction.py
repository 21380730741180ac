"""No card data leaves by the payments topic, nor goes to Salesforce or Sage Pro.

A card number (and a card code) is typed into each free-text field of a PayTrace record;
what the normalizer puts on the topic and what the sinks send must hold neither.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.payment import Payment, PaymentStatus, PaymentType, References
from stream.mapping import load_mapping
from stream.pci import find_card_codes, find_card_numbers
from stream.to_sagepro import VOID_SUFFIX, journal_entry, plan
from stream.to_salesforce import payment_record
from stream.transform import InvalidRecord, to_payment
from tests.unit.test_transform import export_record, raw_of

MAPPING = load_mapping()
NOTE = "customer read card 4000 7700 0000 0307 cvv 739"
PAN = "5454-5454-5454-5454"


def clean(data: str | bytes) -> bool:
    return not find_card_numbers(data) and not find_card_codes(data)


def hostile_record(field: str, text: str) -> dict[str, Any]:
    record = export_record()
    if "." in field:
        outer, inner = field.split(".")
        record[outer] = {**record[outer], inner: text}
    else:
        record[field] = text
    return record


FREE_TEXT = (
    "description",
    "invoice_id",
    "customer_reference_id",
    "customer_id",
    "approval_code",
    "approval_message",
    "status_message",
    "receipt_emailed_to",
    "billing_address.name",
    "shipping_address.name",
)


@pytest.mark.parametrize("field", FREE_TEXT)
@pytest.mark.parametrize("text", [NOTE, f"rep={PAN};campaign=cvv 123", f"{PAN}"])
def test_the_payment_on_the_topic_holds_no_card_data(field: str, text: str) -> None:
    record = hostile_record(field, text)
    payment = to_payment(raw_of(record), MAPPING)
    assert clean(payment.model_dump_json())
    # And on to the sinks: the Payment__c upsert and every Sage Pro posting.
    assert clean(json.dumps(payment_record(payment, MAPPING)))
    for invoice in (None, "INV-1"):
        for posting in plan(payment, MAPPING, customer_id="C-1", invoice_id=invoice):
            assert clean(posting.payment.model_dump_json())
            entry = journal_entry(posting.payment, MAPPING.sagepro.gl_accounts["sale"], "2100")
            assert clean(entry.model_dump_json())


def test_custom_fields_and_references_are_redacted_not_lost() -> None:
    payment = to_payment(raw_of(hostile_record("description", f"rep={NOTE};campaign=X")), MAPPING)
    assert payment.custom_fields["SalesRepID"] == "customer read card xxxxxxxxxxxx0307 cvv xxx"
    assert payment.custom_fields["Campaign_Source"] == "X"
    payment = to_payment(raw_of(hostile_record("invoice_id", PAN)), MAPPING)
    assert payment.references.erp_invoice_id == "xxxxxxxxxxxx5454"


@pytest.mark.parametrize("field", ["transaction_id", "original_transaction_id"])
def test_an_id_that_is_a_card_number_is_refused(field: str) -> None:
    record = export_record(**{field: 4111111111111111})
    with pytest.raises(InvalidRecord) as refused:
        to_payment(raw_of(record), MAPPING)
    assert refused.value.reason == "card_number_in_id" and clean(str(refused.value))


def test_refusal_details_are_redacted() -> None:
    with pytest.raises(InvalidRecord) as refused:
        to_payment(raw_of(export_record(transaction_type=f"card {PAN}")), MAPPING)
    assert refused.value.reason == "unknown_type"
    assert "xxxxxxxxxxxx5454" in str(refused.value) and clean(refused.value.detail)


def payment(**changes: Any) -> Payment:
    """A payment as some other writer might have put it on the topic: nothing redacted."""
    fields: dict[str, Any] = {
        "transaction_id": "1000123",
        "type": PaymentType.SALE,
        "status": PaymentStatus.APPROVED,
        "source_status": f"APPROVED {PAN}",
        "amount": Decimal("110.00"),
        "currency": "USD",
        "occurred_at": datetime(2024, 7, 4, 16, 15, tzinfo=UTC),
        "card_type": f"VISA {PAN}",
        "customer_vault_id": NOTE,
        "approval_code": PAN,
        "description": NOTE,
        "references": References(
            opportunity_id=PAN, order_id=PAN, account_id=PAN, erp_invoice_id=NOTE
        ),
        "custom_fields": {"SalesRepID": NOTE, "Campaign_Source": PAN},
    }
    fields.update(changes)
    return Payment(**fields)


def test_salesforce_gets_no_card_data_from_an_unredacted_payment() -> None:
    record = payment_record(payment(transaction_id="4111111111111111"), MAPPING)
    assert clean(json.dumps(record))
    assert record["SalesRepID__c"] == "customer read card xxxxxxxxxxxx0307 cvv xxx"
    assert record["Amount__c"] == 110.0  # numbers stay numbers


@pytest.mark.parametrize(
    ("changes", "invoice"),
    [
        ({}, None),
        ({}, PAN),
        ({"status": PaymentStatus.VOIDED}, "INV-1"),
        ({"status": PaymentStatus.DECLINED}, None),
        (
            {
                "type": PaymentType.REFUND,
                "status": PaymentStatus.REFUNDED,
                "original_transaction_id": "4111111111111111",
            },
            None,
        ),
    ],
)
def test_sage_pro_gets_no_card_data_from_an_unredacted_payment(
    changes: dict[str, Any], invoice: str | None
) -> None:
    p = payment(transaction_id="4111111111111111", **changes)
    postings = plan(p, MAPPING, customer_id=f"C {PAN}", invoice_id=invoice)
    assert postings
    for posting in postings:
        assert clean(posting.payment.model_dump_json())
        stored = posting.payment.model_copy(update={"memo": NOTE, "applied_amount": 1})
        rule = posting.rule or MAPPING.sagepro.gl_accounts["sale"]
        assert clean(journal_entry(stored, rule, "2100").model_dump_json())
    assert postings[-1].payment.payment_reference.startswith("xxxxxxxxxxxx1111")
    if p.status is PaymentStatus.VOIDED:
        assert postings[-1].payment.payment_reference.endswith(VOID_SUFFIX)
