"""Subscription sales come back through the poller like any payment: the normalizer links a
paystream period sale to its subscription and its period invoice, and a sale PayTrace's own
recurring billing made (no paystream references) is still an ordinary payment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.salesforce.ids import make_id
from schemas.payment import PaymentStatus, PaymentType
from schemas.raw import RawPayTraceTransaction
from stream.mapping import load_mapping
from stream.to_salesforce import payment_record
from stream.transform import to_payment

MAPPING = load_mapping()
SUBSCRIPTION = make_id("a0U", 42)


def exported(**changes: Any) -> RawPayTraceTransaction:
    record: dict[str, Any] = {
        "transaction_id": 100000042,
        "credit_card": {"masked_number": "************1111", "expiration_month": 12},
        "transaction_type": "SALE",
        "status": "APPROVED",
        "description": "",
        "amount": 31,
        "invoice_id": "",
        "customer_reference_id": "",
        "customer_id": "VAULT-M",
        "status_code": "101",
        "status_message": "Your transaction was successfully approved.",
        "created": {"through": "API", "at": "1/31/2027 6:00:00 AM", "by": "demo", "from_ip": ""},
        "settled": "",
        **changes,
    }
    return RawPayTraceTransaction(
        fetched_at=datetime(2027, 1, 31, tzinfo=UTC),
        merchant_timezone="America/Los_Angeles",
        record=record,
    )


def test_a_period_sale_is_linked_to_its_subscription_and_period_invoice() -> None:
    payment = to_payment(
        exported(
            invoice_id=f"{SUBSCRIPTION}-20270131",
            customer_reference_id=SUBSCRIPTION,
            description=f"subscription=sub:{SUBSCRIPTION}:2027-01-31",
        ),
        MAPPING,
    )
    assert payment.references.subscription_id == SUBSCRIPTION
    assert payment.references.erp_invoice_id == f"{SUBSCRIPTION}-20270131"
    assert payment.references.erp_customer_id == "VAULT-M"
    fields = payment_record(payment, MAPPING)
    assert fields["Subscription__c"] == SUBSCRIPTION
    assert fields["Status__c"] == "Completed"


def test_a_sale_made_by_a_paytrace_run_recurrence_syncs_like_any_other() -> None:
    # PayTrace's own recurring billing (v1 CreateRecur, v3 /v3/recurrence/create) charges the
    # vault customer overnight: an ordinary SALE in the export, without our references.
    payment = to_payment(
        exported(
            description="Monthly fee for service.",
            created={"through": "Recurring", "at": "2/1/2027 1:00:00 AM", "by": "", "from_ip": ""},
        ),
        MAPPING,
    )
    assert (payment.type, payment.status) == (PaymentType.SALE, PaymentStatus.APPROVED)
    assert payment.references.subscription_id is None
    assert payment.references.erp_customer_id == "VAULT-M"
    fields = payment_record(payment, MAPPING)
    assert fields["PaymentID__c"] == "100000042"
    assert fields.get("Subscription__c") is None
