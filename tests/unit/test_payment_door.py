"""Pushed payment events at the ingress's door, without a broker: what is published is what the
poller would publish for the same transaction, and what the normalizer would refuse is refused."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from agents.paytrace_source import record_payload
from connectors.paytrace.models import ExportedTransaction
from schemas.raw import RawPayTraceTransaction
from stream.dispute_intake import IntakeRefused
from stream.ingress import Ingress, IngressSettings
from stream.ingress_guard import SIGNATURE_HEADER, SOURCE_HEADER, TIMESTAMP_HEADER, sign
from stream.ingress_payments import PUSH_SOURCE_HEADER, PaymentDoor
from stream.mapping import load_mapping
from stream.transform import to_payment

MAPPING = load_mapping()
ZONE = ZoneInfo("America/Los_Angeles")
SECRET = "s" * 20


def export_record(**changes: Any) -> dict[str, Any]:
    """One transaction as PayTrace's /v1/transactions/export/by_id returns it."""
    record: dict[str, Any] = {
        "transaction_id": 1000123,
        "transaction_type": "SALE",
        "status": "APPROVED",
        "description": "order 42 paid with 4111 1111 1111 1111",
        "amount": 110,
        "invoice_id": "INV-10042",
        "credit_card": {"masked_number": "************1111", "expiration_month": 12},
        "billing_address": {"name": "Kevin", "zip": "85284", "country": "US"},
        "tax_amount": "",
        "approval_code": "TAS212",
        "created": {"through": "API", "at": "7/4/2024 9:15:00 AM", "by": "demo", "from_ip": ""},
        "settled": "",
    }
    record.update(changes)
    return record


def test_a_pushed_transaction_is_what_the_poller_publishes() -> None:
    door = PaymentDoor(ZONE, MAPPING)
    now = datetime(2024, 7, 4, 17, tzinfo=UTC)
    key, value = door.raw(export_record(), now)
    pushed = RawPayTraceTransaction.model_validate_json(value)
    assert key == b"1000123" and pushed.source == "push"
    assert pushed.merchant_timezone == "America/Los_Angeles"
    assert "4111 1111 1111 1111" not in value.decode()  # redacted before the send
    polled_record = ExportedTransaction.model_validate(export_record(), context={"tz": ZONE})
    polled = RawPayTraceTransaction(
        source="poll",
        fetched_at=now,
        merchant_timezone=str(ZONE),
        record=record_payload(polled_record),
    )
    assert pushed.record == polled.record
    # the normalizer's dedupe key: one payment whichever of the two comes second
    assert to_payment(pushed, MAPPING).fingerprint() == to_payment(polled, MAPPING).fingerprint()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"transaction_id": None}, "schema"),
        ({"amount": "a lot"}, "schema"),
        ({"created": {"at": "2024-07-04T09:15:00Z"}}, "schema"),
        ({"transaction_type": "TELEPORT"}, "unknown_type"),
        ({"amount": -5}, "negative_amount"),
        ({"transaction_id": 4111111111111111}, "card_number_in_id"),
    ],
)
def test_what_the_normalizer_would_refuse_is_refused_at_the_door(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(IntakeRefused) as refused:
        PaymentDoor(ZONE, MAPPING).raw(export_record(**changes))
    assert refused.value.reason == reason
    assert "4111111111111111" not in str(refused.value)


class Publisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []

    async def send(
        self, logical: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        self.sent.append((logical, key, value, headers))


def signed(body: dict[str, Any] | bytes, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()))
    headers = {SOURCE_HEADER: "paytrace", TIMESTAMP_HEADER: stamp}
    return raw, headers | {SIGNATURE_HEADER: sign(secret, stamp, raw)}


async def test_the_payments_path_shares_the_doors_checks() -> None:
    settings = IngressSettings(secrets={"paytrace": [SecretStr(SECRET)]})
    publisher = Publisher()
    app = Ingress(settings, publisher, PaymentDoor(ZONE, MAPPING)).app()
    async with TestClient(TestServer(app)) as http:
        raw, headers = signed(export_record())
        accepted = await http.post("/v1/payments", data=raw, headers=headers)
        assert accepted.status == 202
        assert (await accepted.json())["id"] == "payment:1000123"
        again = await http.post("/v1/payments", data=raw, headers=headers)
        refused = [again]
        for body, secret in (
            (export_record(amount=1), "x" * 20),  # forged
            (b'{"transaction_id": ', SECRET),  # not JSON
            (b"[1]", SECRET),  # not an object
            (export_record(amount=-1), SECRET),  # what the normalizer would dead-letter
        ):
            body_raw, body_headers = signed(body, secret)
            refused.append(await http.post("/v1/payments", data=body_raw, headers=body_headers))
        assert [(r.status, (await r.json())["code"]) for r in refused] == [
            (409, "replayed"),
            (401, "bad_signature"),
            (400, "malformed"),
            (400, "malformed"),
            (422, "negative_amount"),
        ]
    assert [(logical, key) for logical, key, _, _ in publisher.sent] == [
        ("paytrace_raw", b"1000123")
    ]
    assert publisher.sent[0][3] == [(PUSH_SOURCE_HEADER, b"push:paytrace")]
