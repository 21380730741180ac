"""PayTrace export record -> canonical ``Payment``, driven by the mapping."""

from __future__ import annotations

import hashlib
import re
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from connectors.paytrace.models import ExportedTransaction
from schemas.payment import Payment, PaymentStatus, PaymentType, References
from schemas.raw import RawPayTraceTransaction
from stream.mapping import Mapping
from stream.pci import redact_text

_CARD_PREFIXES = (
    (re.compile(r"^4"), "VISA"),
    (re.compile(r"^(5[1-5]|2[2-7])"), "MASTERCARD"),
    (re.compile(r"^3[47]"), "AMEX"),
    (re.compile(r"^(6011|65|64[4-9])"), "DISCOVER"),
)


class InvalidRecord(ValueError):
    """A source record that cannot become a payment; ``reason`` is a stable label."""

    def __init__(self, reason: str, detail: str) -> None:
        detail = redact_text(detail)  # details quote input, and end up in logs and DLQs
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def card_type(masked: str) -> str | None:
    """Brand from the unmasked leading digits PayTrace keeps (first 6 for BIN), if any."""
    head = masked[:6].rstrip("xX*")
    for pattern, brand in _CARD_PREFIXES:
        if head and pattern.match(head):
            return brand
    return None


def last_four_of(masked: str) -> str | None:
    tail = masked[-4:]
    return tail if len(tail) == 4 and tail.isdigit() else None


HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def billing_key(record: ExportedTransaction) -> str | None:
    """A stable, one-way key of the billing name and zip (None without a name)."""
    address = record.billing_address
    name = " ".join((address.name or "").lower().split()) if address else ""
    if not name:
        return None
    zip_code = (address.zip or "").strip().lower() if address else ""
    digest = hashlib.sha256(f"{name}|{zip_code}".encode()).hexdigest()[:16]
    # Hex digits as letters: 16 hex characters can be 16 digits that pass Luhn (about 1 key
    # in 2,500), which the outbound PCI scan masks, and the payment then fails its schema.
    return digest.translate(HEX_AS_LETTERS)


def _references(record: ExportedTransaction, mapping: Mapping) -> References:
    found: dict[str, str] = {}
    values: dict[str, str] = {}  # several rules read one field: redact it once
    for rule in mapping.correlation:
        value = values.get(rule.field)
        if value is None:
            # Redacted before matching: a masked value is nobody's id, and no rule takes it.
            value = redact_text(str(getattr(record, rule.field) or "").strip())
            values[rule.field] = value
        # First matching rule per target wins. A value may name several things: a charge for
        # an Opportunity carries its id, which is also the id of the ERP invoice made for it.
        if value and rule.target not in found and rule.regex.fullmatch(value):
            found[rule.target] = value
    return References(**found)


def _custom_fields(record: ExportedTransaction, mapping: Mapping) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, rule in mapping.custom_fields.items():
        match = re.search(rule.pattern, str(getattr(record, rule.field) or ""))
        if match:
            values[name] = redact_text(match.group("value").strip())
    return values


def to_payment(raw: RawPayTraceTransaction, mapping: Mapping) -> Payment:
    """Validate and map; raises ``InvalidRecord`` with a reason for anything unusable."""
    try:
        zone = ZoneInfo(raw.merchant_timezone)
    except (KeyError, ValueError, OSError) as exc:  # OSError: a tz directory, e.g. "America"
        raise InvalidRecord("bad_timezone", str(exc)) from exc
    try:
        record = ExportedTransaction.model_validate(raw.record, context={"tz": zone})
    except ValidationError as exc:
        raise InvalidRecord("schema", _short(exc)) from exc
    kind = mapping.type_for(str(record.transaction_type))
    if kind is None:
        raise InvalidRecord("unknown_type", f"transaction_type {record.transaction_type!r}")
    status = mapping.status_for(
        str(record.transaction_type), record.status or "", record.settled is not None
    )
    if status is None:
        raise InvalidRecord("unknown_status", f"status {record.status!r}")
    if kind is PaymentType.CHARGEBACK:
        # A chargeback takes money back whatever its status reads ("APPROVED" included): never
        # a payment in. Its money moves through the disputes flow (agents/dispute_sink.py).
        status = PaymentStatus.CHARGEBACK
    if record.amount < 0:
        raise InvalidRecord("negative_amount", f"amount {record.amount}")
    masked = record.credit_card.masked_number if record.credit_card else ""
    transaction_id = str(record.transaction_id)
    original = str(record.original_transaction_id) if record.original_transaction_id else None
    for name, value in (("transaction_id", transaction_id), ("original_transaction_id", original)):
        # Refused, not masked: a masked id names no transaction, and keys the payments topic.
        if value and redact_text(value) != value:
            raise InvalidRecord("card_number_in_id", name)
    try:
        return Payment(
            transaction_id=transaction_id,
            type=kind,
            status=status,
            source_status=redact_text(record.status or ""),
            amount=record.amount,
            currency=mapping.currency,
            occurred_at=record.created.at,
            settled_at=record.settled,
            card_type=card_type(masked),
            last_four=last_four_of(masked),
            customer_vault_id=redact_text(record.customer_id) or None,
            original_transaction_id=original,
            approval_code=redact_text(record.approval_code) or None,
            description=redact_text(record.description) or None,
            references=_references(record, mapping),
            custom_fields=_custom_fields(record, mapping),
            avs_response=redact_text(record.avs_response.strip()) or None,
            csc_response=redact_text(record.csc_response.strip()) or None,
            approval_message=redact_text(record.approval_message.strip()) or None,
            local_hour=record.created.at.hour,  # parsed in the merchant's zone
            billing_key=billing_key(record),
        )
    except ValidationError as exc:
        raise InvalidRecord("invalid_payment", _short(exc)) from exc


def _short(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors()[:3]]
    return "; ".join(parts)
