"""PayTrace export records -> canonical payments, per the default mapping."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from connectors.paytrace.models import format_export_time
from schemas.payment import Payment, PaymentStatus, PaymentType, References
from schemas.raw import RawPayTraceTransaction
from stream.mapping import DEFAULT_MAPPING, Mapping, load_mapping
from stream.transform import InvalidRecord, card_type, to_payment

MAPPING = load_mapping()
FIXTURES = Path(__file__).parents[1] / "fixtures" / "paytrace"
PACIFIC = "America/Los_Angeles"
OPPORTUNITY = "006Dn00000ABCDEFGH"  # 18-character Salesforce ids
ORDER = "801Dn00000ABCDEFGH"
ACCOUNT = "001Dn00000ABCDE"  # 15-character form


def export_record(**changes: Any) -> dict[str, Any]:
    """One transaction as the PayTrace emulator's /v1/transactions/export/* lists it."""
    record: dict[str, Any] = {
        "transaction_id": 1000123,
        "credit_card": {
            "masked_number": "************1111",
            "expiration_month": 12,
            "expiration_year": 29,
        },
        "transaction_type": "SALE",
        "status": "APPROVED",
        "description": "rep=Dana Reyes;campaign=Spring Promo",
        "amount": 110,
        "invoice_id": "INV-10042",
        "shipping_address": {"name": "", "zip": "", "country": ""},
        "billing_address": {"name": "Kevin", "zip": "85284", "country": "US"},
        "receipt_emailed_to": "",
        "tax_amount": "",
        "customer_reference_id": "",
        "approval_code": "TAS212",
        "approval_message": "APPROVAL TAS212 - Approved and completed",
        "avs_response": "Full Exact Match",
        "csc_response": "Match",
        "status_code": "101",
        "status_message": "Your transaction was successfully approved.",
        "created": {"through": "API", "at": "7/4/2024 9:15:00 AM", "by": "demo", "from_ip": ""},
        "settled": "",
        "customer_id": "",
        "original_transaction_id": None,
        "batch_number": None,
    }
    record.update(changes)
    return record


def raw_of(record: dict[str, Any], zone: str = PACIFIC) -> RawPayTraceTransaction:
    return RawPayTraceTransaction(
        fetched_at=datetime(2024, 7, 4, tzinfo=UTC), merchant_timezone=zone, record=record
    )


def payment_of(zone: str = PACIFIC, mapping: Mapping = MAPPING, **changes: Any) -> Payment:
    return to_payment(raw_of(export_record(**changes), zone), mapping)


def reason_for(record: dict[str, Any], zone: str = PACIFIC, mapping: Mapping = MAPPING) -> str:
    with pytest.raises(InvalidRecord) as refused:
        to_payment(raw_of(record, zone), mapping)
    return refused.value.reason


def test_documented_export_example() -> None:
    examples = json.loads((FIXTURES / "documented_examples.json").read_text())
    record = examples["export_by_date_range_response"]["transactions"][0]
    payment = to_payment(raw_of(record), MAPPING)
    assert payment.transaction_id == "79388123"
    assert payment.type is PaymentType.SALE
    assert payment.status is PaymentStatus.SETTLED  # it carries a settled time
    assert payment.source_status == ""
    assert payment.amount == Decimal("110") and isinstance(payment.amount, Decimal)
    assert payment.currency == "USD"
    # 4/10/2015 4:06:30 PM and 8:13:45 PM Pacific daylight time (UTC-7).
    assert payment.occurred_at == datetime(2015, 4, 10, 23, 6, 30, tzinfo=UTC)
    assert payment.settled_at == datetime(2015, 4, 11, 3, 13, 45, tzinfo=UTC)
    assert payment.last_four == "5454" and payment.card_type is None
    assert payment.approval_code == "VTLMC1"
    assert payment.references == References(erp_invoice_id="inv1234")  # PO123456 names nothing
    assert payment.customer_vault_id is None and payment.custom_fields == {}


def test_emulator_sale() -> None:
    payment = payment_of()
    assert payment.transaction_id == "1000123"
    assert (payment.type, payment.status) == (PaymentType.SALE, PaymentStatus.APPROVED)
    assert payment.source_status == "APPROVED"
    assert payment.occurred_at == datetime(2024, 7, 4, 16, 15, tzinfo=UTC)
    assert payment.settled_at is None and not payment.settled
    assert payment.custom_fields == {"SalesRepID": "Dana Reyes", "Campaign_Source": "Spring Promo"}
    assert payment.references == References(erp_invoice_id="INV-10042")
    assert payment.original_transaction_id is None


@pytest.mark.parametrize(
    ("zone", "local", "utc"),
    [
        (PACIFIC, "1/15/2024 12:00:00 PM", datetime(2024, 1, 15, 20, 0, tzinfo=UTC)),  # PST
        (PACIFIC, "7/15/2024 12:00:00 AM", datetime(2024, 7, 15, 7, 0, tzinfo=UTC)),  # PDT
        # Spring forward on 3/10/2024 at 2 AM: 1:59:59 is still PST, 3:00:00 already PDT.
        (PACIFIC, "3/10/2024 1:59:59 AM", datetime(2024, 3, 10, 9, 59, 59, tzinfo=UTC)),
        (PACIFIC, "3/10/2024 3:00:00 AM", datetime(2024, 3, 10, 10, 0, tzinfo=UTC)),
        # Fall back on 11/3/2024: 12:59:59 AM is PDT, 2:00:00 AM is PST.
        (PACIFIC, "11/3/2024 12:59:59 AM", datetime(2024, 11, 3, 7, 59, 59, tzinfo=UTC)),
        (PACIFIC, "11/3/2024 2:00:00 AM", datetime(2024, 11, 3, 10, 0, tzinfo=UTC)),
        ("America/New_York", "12/31/2024 11:59:59 PM", datetime(2025, 1, 1, 4, 59, 59, tzinfo=UTC)),
        ("UTC", "2/29/2024 12:30:00 PM", datetime(2024, 2, 29, 12, 30, tzinfo=UTC)),
        ("Asia/Kolkata", "6/1/2024 5:30:00 AM", datetime(2024, 6, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_merchant_local_times_become_utc(zone: str, local: str, utc: datetime) -> None:
    payment = payment_of(zone, created={"at": local}, settled=local)
    assert payment.occurred_at == utc and payment.occurred_at.utcoffset() == timedelta(0)
    assert payment.settled_at == utc


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(110, "110"), (19.99, "19.99"), ("12.50", "12.50"), (0.1, "0.1"), (0, "0")],
)
def test_amounts_are_exact_decimals(amount: Any, expected: str) -> None:
    payment = payment_of(amount=amount)
    assert isinstance(payment.amount, Decimal)
    assert payment.amount == Decimal(expected)
    assert payment.model_dump(mode="json")["amount"] == f"{Decimal(expected):.2f}"


@pytest.mark.parametrize(
    ("masked", "brand", "last_four"),
    [
        ("************5454", None, "5454"),  # the export hides the BIN
        ("xxxxxxxxxxxx1111", None, "1111"),
        ("411111******1111", "VISA", "1111"),
        ("545454xxxxxx5454", "MASTERCARD", "5454"),
        ("222300xxxxxx0010", "MASTERCARD", "0010"),
        ("371449*****8431", "AMEX", "8431"),
        ("601100xxxxxx9424", "DISCOVER", "9424"),
        ("650000xxxxxx0000", "DISCOVER", "0000"),
        ("999999xxxxxx1234", None, "1234"),
        ("", None, None),
        ("****", None, None),
    ],
)
def test_card_type_and_last_four_from_the_masked_number(
    masked: str, brand: str | None, last_four: str | None
) -> None:
    payment = payment_of(credit_card={"masked_number": masked})
    assert payment.card_type == brand
    assert payment.last_four == last_four
    assert card_type(masked) == brand


def test_no_card_at_all() -> None:
    payment = payment_of(credit_card=None)
    assert payment.card_type is None and payment.last_four is None


@pytest.mark.parametrize(
    ("invoice_id", "customer_reference_id", "customer_id", "references"),
    [
        # A Salesforce id in invoice_id (a charge paystream made) is also the ERP invoice id:
        # the charge agent creates the Sage Pro invoice under that id.
        (OPPORTUNITY, "", "", References(opportunity_id=OPPORTUNITY, erp_invoice_id=OPPORTUNITY)),
        (
            OPPORTUNITY[:15],
            "",
            "",
            References(opportunity_id=OPPORTUNITY[:15], erp_invoice_id=OPPORTUNITY[:15]),
        ),
        (ORDER, "", "", References(order_id=ORDER, erp_invoice_id=ORDER)),
        ("INV-10042", "", "", References(erp_invoice_id="INV-10042")),
        ("INV-10042", ACCOUNT, "", References(account_id=ACCOUNT, erp_invoice_id="INV-10042")),
        (
            "INV-10042",
            OPPORTUNITY,
            "",
            References(opportunity_id=OPPORTUNITY, erp_invoice_id="INV-10042"),
        ),
        ("", ORDER, "", References(order_id=ORDER)),
        (
            OPPORTUNITY,
            ACCOUNT,
            "",
            References(opportunity_id=OPPORTUNITY, account_id=ACCOUNT, erp_invoice_id=OPPORTUNITY),
        ),
        ("", "", "cust-42", References(erp_customer_id="cust-42")),
        ("", "PO123456", "", References()),
        # Not a Salesforce id: wrong length or prefix, so it is the ERP's invoice number.
        ("006ABC", "", "", References(erp_invoice_id="006ABC")),
        ("  ", "", "", References()),
    ],
)
def test_correlation(
    invoice_id: str, customer_reference_id: str, customer_id: str, references: References
) -> None:
    payment = payment_of(
        invoice_id=invoice_id, customer_reference_id=customer_reference_id, customer_id=customer_id
    )
    assert payment.references == references
    assert payment.customer_vault_id == (customer_id or None)


def test_the_first_rule_for_a_target_wins() -> None:
    other = "006Dn00000ZZZZZZZZ"
    payment = payment_of(invoice_id=OPPORTUNITY, customer_reference_id=other)
    assert payment.references.opportunity_id == OPPORTUNITY


@pytest.mark.parametrize(
    ("description", "custom"),
    [
        (
            "rep=Dana Reyes;campaign=Spring Promo",
            {"SalesRepID": "Dana Reyes", "Campaign_Source": "Spring Promo"},
        ),
        (
            "campaign=Web;rep= 0057000000AbCdE ",
            {"SalesRepID": "0057000000AbCdE", "Campaign_Source": "Web"},
        ),
        ("order 17 rep=ZZ", {"SalesRepID": "ZZ"}),
        ("plain text", {}),
        ("", {}),
    ],
)
def test_custom_fields_from_the_description(description: str, custom: dict[str, str]) -> None:
    payment = payment_of(description=description)
    assert payment.custom_fields == custom
    assert payment.description == (description or None)


def test_refund_names_its_sale() -> None:
    payment = payment_of(
        transaction_type="REFUND", status="APPROVED", original_transaction_id=1000100
    )
    assert (payment.type, payment.status) == (PaymentType.REFUND, PaymentStatus.REFUNDED)
    assert payment.original_transaction_id == "1000100"


@pytest.mark.parametrize(
    ("kind", "status", "settled", "expected_type", "expected_status"),
    [
        ("SALE", "DECLINED", "", PaymentType.SALE, PaymentStatus.DECLINED),
        ("SALE", "AUTO_VOIDED", "", PaymentType.SALE, PaymentStatus.DECLINED),
        ("SALE", "VOIDED", "", PaymentType.SALE, PaymentStatus.VOIDED),
        ("SALE", "APPROVED", "7/5/2024 2:00:00 AM", PaymentType.SALE, PaymentStatus.SETTLED),
        ("AUTHORIZATION", "AUTHORIZED", "", PaymentType.AUTHORIZATION, PaymentStatus.AUTHORIZED),
        ("AUTHORIZATION", "CAPTURED", "", PaymentType.AUTHORIZATION, PaymentStatus.CAPTURED),
        (
            "AUTHORIZATION",
            "CAPTURED",
            "7/5/2024 2:00:00 AM",
            PaymentType.AUTHORIZATION,
            PaymentStatus.SETTLED,
        ),
        ("AUTHORIZATION", "VOIDED", "", PaymentType.AUTHORIZATION, PaymentStatus.VOIDED),
        ("REFUND", "APPROVED", "7/5/2024 2:00:00 AM", PaymentType.REFUND, PaymentStatus.REFUNDED),
    ],
)
def test_types_and_statuses(
    kind: str,
    status: str,
    settled: str,
    expected_type: PaymentType,
    expected_status: PaymentStatus,
) -> None:
    payment = payment_of(transaction_type=kind, status=status, settled=settled)
    assert (payment.type, payment.status, payment.source_status) == (
        expected_type,
        expected_status,
        status,
    )
    assert payment.settled == bool(settled)


def _without(key: str) -> dict[str, Any]:
    record = export_record()
    del record[key]
    return record


@pytest.mark.parametrize(
    "record",
    [
        _without("transaction_id"),
        _without("created"),
        _without("amount"),
        export_record(transaction_id="abc"),
        export_record(amount="twelve"),
        export_record(amount="NaN"),
        export_record(created={"at": "2024-07-04T09:15:00"}),  # not PayTrace's format
        export_record(created={"at": "13/45/2024 9:15:00 AM"}),
        export_record(settled="yesterday"),
        export_record(credit_card="************1111"),
    ],
    ids=[
        "no id",
        "no created",
        "no amount",
        "id not a number",
        "amount not a number",
        "amount NaN",
        "iso time",
        "impossible date",
        "bad settled",
        "card not an object",
    ],
)
def test_schema_errors(record: dict[str, Any]) -> None:
    assert reason_for(record) == "schema"


def test_schema_error_detail_names_the_field() -> None:
    with pytest.raises(InvalidRecord) as refused:
        to_payment(raw_of(_without("amount")), MAPPING)
    assert refused.value.detail.startswith("amount:")
    assert str(refused.value).startswith("schema: amount:")


def test_unknown_type() -> None:
    assert reason_for(export_record(transaction_type="LEVEL3")) == "unknown_type"


def test_unknown_status() -> None:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_MAPPING.read_text())
    data["statuses"] = [{"transaction_type": "SALE", "status": "APPROVED", "canonical": "approved"}]
    strict = Mapping.model_validate(data)
    assert to_payment(raw_of(export_record()), strict).status is PaymentStatus.APPROVED
    assert reason_for(export_record(status="PENDING"), mapping=strict) == "unknown_status"
    assert reason_for(export_record(status=None), mapping=strict) == "unknown_status"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "America", "UTC\x00"])
def test_bad_timezone(zone: str) -> None:
    assert reason_for(export_record(), zone) == "bad_timezone"


def test_negative_amount() -> None:
    assert reason_for(export_record(amount=-5)) == "negative_amount"


@pytest.mark.parametrize(
    "record",
    [export_record(amount="1.005"), export_record(amount=10**13)],
    ids=["three decimal places", "too large"],
)
def test_amounts_a_payment_cannot_hold(record: dict[str, Any]) -> None:
    assert reason_for(record) == "invalid_payment"


def test_invalid_record_is_a_value_error() -> None:
    # The normalizer dead-letters ValueErrors; InvalidRecord must be one of them.
    assert issubclass(InvalidRecord, ValueError)


amounts = st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2)
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))
zones = st.sampled_from([PACIFIC, "America/New_York", "Europe/London", "Australia/Sydney", "UTC"])


def _unambiguous(local: datetime) -> bool:
    """Wall-clock times that name one instant (not in a fall-back hour)."""
    return local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset()


@given(amounts, instants, zones, st.sampled_from(["int", "float", "str"]))
def test_valid_amounts_and_times_round_trip(
    amount: Decimal, instant: datetime, zone: str, amount_as: str
) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    if not _unambiguous(local):
        return
    written: Any = {"int": int(amount), "float": float(amount), "str": f"{amount:.2f}"}[amount_as]
    expected = Decimal(int(amount)) if amount_as == "int" else amount
    # Six real hours later (wall-clock arithmetic would cross a DST change wrongly).
    settled = (instant + timedelta(hours=6)).astimezone(ZoneInfo(zone))
    payment = payment_of(
        zone,
        amount=written,
        created={"at": format_export_time(local)},
        settled=format_export_time(settled) if _unambiguous(settled) else "",
    )
    assert payment.amount == expected
    assert payment.occurred_at == instant and payment.occurred_at.tzinfo is UTC
    if _unambiguous(settled):
        assert payment.settled_at == instant + timedelta(hours=6)


source_statuses = st.sampled_from(["APPROVED", "DECLINED", "AUTO_VOIDED", "VOIDED"])
settled_times = st.sampled_from(["", "7/5/2024 2:00:00 AM", "7/6/2024 2:00:00 AM"])


@given(
    st.tuples(source_statuses, amounts, settled_times),
    st.tuples(source_statuses, amounts, settled_times),
    st.booleans(),
    st.text(max_size=20),
)
def test_fingerprint_changes_iff_status_amount_or_settlement_changes(
    first: tuple[str, Decimal, str],
    second: tuple[str, Decimal, str],
    written_as_string: bool,
    description: str,
) -> None:
    status, amount, settled = first
    before = payment_of(status=status, amount=float(amount), settled=settled)
    status, amount, settled = second
    after = payment_of(
        status=status,
        amount=f"{amount:.2f}" if written_as_string else float(amount),
        settled=settled,
        description=description,  # not part of the state
        invoice_id="INV-OTHER",
    )
    same_state = (before.status, before.amount, before.settled_at) == (
        after.status,
        after.amount,
        after.settled_at,
    )
    assert (before.fingerprint() == after.fingerprint()) is same_state


def test_the_source_record_is_left_untouched() -> None:
    record = export_record()
    original = copy.deepcopy(record)
    to_payment(raw_of(record), MAPPING)
    assert record == original


@pytest.mark.parametrize("status", ["APPROVED", "SETTLED", "CHARGEBACK", "Open"])
def test_a_chargeback_is_a_chargeback_whatever_its_status_reads(status: str) -> None:
    payment = payment_of(transaction_type="CHARGEBACK", status=status)
    assert (payment.type, payment.status) == (PaymentType.CHARGEBACK, PaymentStatus.CHARGEBACK)
