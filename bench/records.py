"""Realistic raw PayTrace records, shaped as the source agent publishes them.

Each record is built as the PayTrace emulator's export lists a transaction, then passed
through ``ExportedTransaction`` and ``record_payload`` exactly as ``agents/paytrace_source``
does, and wrapped in ``RawPayTraceTransaction``. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from agents.paytrace_source import record_payload
from connectors.paytrace.models import ExportedTransaction, format_export_time
from schemas.payment import Payment
from schemas.raw import RawPayTraceTransaction
from stream.mapping import Mapping
from stream.transform import to_payment

MERCHANT_TZ = "America/Los_Angeles"
FIRST_ID = 80_000_000
_CARDS = ("411111", "555555", "378282", "601111", "222300")
_REPS = ("Dana Reyes", "Sam Okafor", "Lee Chen", "Ana Silva")
_CAMPAIGNS = ("Spring Promo", "Webinar", "Referral", "Trade Show")
_CITIES = (("Spokane", "WA", "99201"), ("Phoenix", "AZ", "85284"), ("Austin", "TX", "73301"))
# (transaction_type, status, settled, approval message, response code) in rough production mix.
_KINDS = (
    ("SALE", "APPROVED", True, "APPROVAL {code} - Approved and completed", 101),
    ("SALE", "APPROVED", True, "APPROVAL {code} - Approved and completed", 101),
    ("SALE", "APPROVED", False, "APPROVAL {code} - Approved and completed", 101),
    ("SALE", "DECLINED", False, "DECLINE - Insufficient funds", 102),
    ("AUTHORIZATION", "AUTHORIZED", False, "APPROVAL {code} - Approved", 101),
    ("AUTHORIZATION", "CAPTURED", True, "APPROVAL {code} - Approved", 112),
    ("REFUND", "APPROVED", True, "Your transaction was successfully refunded.", 106),
    ("SALE", "VOIDED", False, "Your transaction was successfully voided.", 109),
)


def _address(rng: random.Random, name: str) -> dict[str, str]:
    city, state, zip_code = rng.choice(_CITIES)
    return {
        "name": name,
        "street_address": f"{rng.randint(100, 9999)} E. West St.",
        "street_address2": "",
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": "US",
    }


def export_record(index: int, rng: random.Random, start: datetime) -> dict[str, Any]:
    """One transaction as ``/v1/transactions/export/*`` of the emulator lists it."""
    kind, status, settled, message, code = _KINDS[index % len(_KINDS)]
    approval = f"TAS{rng.randint(100, 999)}" if code != 102 else ""
    created = start + timedelta(seconds=37 * index)
    cents = rng.randint(500, 250_000)
    name = f"Customer {rng.randint(1, 5000)}"
    return {
        "transaction_id": FIRST_ID + index,
        "credit_card": {
            "masked_number": rng.choice(_CARDS) + "******" + f"{rng.randint(0, 9999):04d}",
            "expiration_month": rng.randint(1, 12),
            "expiration_year": rng.randint(26, 31),
        },
        "transaction_type": kind,
        "status": status,
        "description": f"rep={rng.choice(_REPS)};campaign={rng.choice(_CAMPAIGNS)}",
        "amount": cents // 100 if cents % 100 == 0 else round(cents / 100, 2),
        "invoice_id": f"INV-{100_000 + index}",
        "shipping_address": {**_address(rng, name), "county": ""},
        "billing_address": _address(rng, name),
        "receipt_emailed_to": f"customer{index}@example.com" if index % 3 == 0 else "",
        "tax_amount": f"{cents * 0.08 / 100:.2f}" if index % 2 == 0 else "",
        "customer_reference_id": f"PO{rng.randint(10_000, 99_999)}",
        "approval_code": approval,
        "approval_message": message.format(code=approval),
        "avs_response": "Full Exact Match",
        "csc_response": "Match",
        "status_code": str(code),
        "status_message": message.format(code=approval),
        "created": {
            "through": "API",
            "at": format_export_time(created),
            "by": "sandbox123",
            "from_ip": f"64.106.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        },
        "settled": format_export_time(created + timedelta(hours=4)) if settled else "",
        "customer_id": f"CUST-{rng.randint(1, 2000)}" if index % 4 else "",
        "original_transaction_id": FIRST_ID + index - 1 if kind == "REFUND" and index else None,
        "batch_number": 4000 + index // 500 if settled else None,
    }


def raw_records(count: int, seed: int = 7, first_index: int = 0) -> list[bytes]:
    """``count`` raw topic values (JSON bytes), as the PayTrace source agent sends them."""
    rng = random.Random(seed + first_index)
    zone = ZoneInfo(MERCHANT_TZ)
    start = datetime(2025, 3, 3, 8, 0, 0)
    fetched_at = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
    values: list[bytes] = []
    for index in range(first_index, first_index + count):
        record = ExportedTransaction.model_validate(
            export_record(index, rng, start), context={"tz": zone}
        )
        raw = RawPayTraceTransaction(
            source="poll",
            fetched_at=fetched_at,
            merchant_timezone=MERCHANT_TZ,
            record=record_payload(record),
        )
        values.append(orjson.dumps(raw.model_dump(mode="json")))
    return values


def payments(count: int, mapping: Mapping, first_index: int = 0) -> list[Payment]:
    """Canonical payments made from the same records by the normalizer's transform."""
    return [
        to_payment(RawPayTraceTransaction.model_validate_json(value), mapping)
        for value in raw_records(count, first_index=first_index)
    ]
