"""Pushed PayTrace payment events (``POST /v1/payments``): one transaction as PayTrace's export
returns it, checked at the door and published to the raw topic the poller writes.

Pushing is an extra path beside polling, never the only one: the record goes out exactly as the
poller would write it (the export's own time format, card data redacted, keyed by PayTrace's
transaction id), so whichever of the two arrives second is the same state to the normalizer's
dedupe table and makes no second payment. What the normalizer would dead-letter (a schema error,
an unknown type or status, a negative amount, a card number as an id) is refused here instead,
with the same reason, by the same code (``stream/transform.py``) and the workers' mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from agents.paytrace_source import record_payload
from connectors.paytrace.models import ExportedTransaction
from schemas.raw import RawPayTraceTransaction
from stream.dispute_intake import IntakeRefused, short_errors
from stream.mapping import Mapping, load_mapping
from stream.pci import redact_text
from stream.settings import FileBackedSettings, WorkerSettings
from stream.transform import InvalidRecord, to_payment

PUSH_SOURCE_HEADER = "paystream-push-source"


class MerchantZone(FileBackedSettings):
    """``PAYSTREAM_PAYTRACE_TIMEZONE``, the one the workers read: export times carry no offset."""

    model_config = SettingsConfigDict(
        env_prefix="PAYSTREAM_PAYTRACE_", title="paytrace", extra="ignore"
    )

    timezone: str = "UTC"


class PaymentDoor:
    """Turns a pushed body into the raw record and its key; raises ``IntakeRefused``."""

    def __init__(self, zone: ZoneInfo, mapping: Mapping) -> None:
        self.zone = zone
        self.mapping = mapping

    @classmethod
    def from_settings(cls) -> PaymentDoor:
        worker = WorkerSettings()
        return cls(ZoneInfo(MerchantZone().timezone), load_mapping(worker.mapping_file))

    def raw(self, fields: dict[str, Any], now: datetime | None = None) -> tuple[bytes, bytes]:
        """(key, value) for the raw topic."""
        try:
            record = ExportedTransaction.model_validate(fields, context={"tz": self.zone})
        except ValidationError as exc:
            raise IntakeRefused("schema", short_errors(exc)) from None
        for name in ("transaction_id", "original_transaction_id"):
            value = str(getattr(record, name) or "")
            if redact_text(value) != value:  # refused, not masked: a masked id names nothing
                raise IntakeRefused("card_number_in_id", name)
        raw = RawPayTraceTransaction(
            source="push",
            fetched_at=now or datetime.now(UTC),
            merchant_timezone=str(self.zone),
            record=record_payload(record),
        )
        try:
            to_payment(raw, self.mapping)  # what the normalizer will do with it
        except InvalidRecord as exc:
            raise IntakeRefused(exc.reason, exc.detail) from None
        except ValueError as exc:  # a value the transform cannot read
            raise IntakeRefused("malformed", str(exc)) from None
        key = str(record.transaction_id).encode()
        return key, orjson.dumps(raw.model_dump(mode="json"))
