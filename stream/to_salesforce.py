"""Canonical payment -> Salesforce record fields, per the mapping."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from schemas.payment import Payment, PaymentStatus
from stream.mapping import Mapping, SalesforceMapping
from stream.pci import redact_text


def _source_value(payment: Payment, path: str) -> Any:
    if path.startswith("custom."):
        return payment.custom_fields.get(path.removeprefix("custom."))
    if path == "occurred_on":
        return payment.occurred_at.date()
    target: Any = payment
    for part in path.split("."):
        target = getattr(target, part)
    return target


def _format(value: Any, path: str, sf: SalesforceMapping) -> Any:
    if path == "status" and isinstance(value, PaymentStatus):
        return sf.status[value]
    if path == "card_type" and isinstance(value, str):
        return sf.card_types.get(value, value.title())
    if path == "type":
        return str(value).title()
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):  # occurred_on: a Salesforce Date field, and JSON-serialisable
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def payment_record(payment: Payment, mapping: Mapping) -> dict[str, Any]:
    """The fields of one ``Payment__c`` upsert, external id included; empty values left out.

    Every string is redacted on the way out, whatever wrote the payment we were given.
    """
    sf = mapping.salesforce
    record: dict[str, Any] = {sf.external_id_field: redact_text(payment.transaction_id)}
    for field_name, path in sf.fields.items():
        value = _source_value(payment, path)
        if value is None or value == "":
            continue  # never clear what someone else set in Salesforce
        value = _format(value, path, sf)
        record[field_name] = redact_text(value) if isinstance(value, str) else value
    return record
