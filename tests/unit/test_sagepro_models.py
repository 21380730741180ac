"""Wire names, what is sent, settings and the backend protocol."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.sagepro.backend import SageProBackend
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.models import (
    Invoice,
    InvoiceUpdate,
    JournalEntry,
    Payment,
    PaymentStatus,
    wire_name,
)
from connectors.sagepro.settings import SageProSettings


@pytest.mark.parametrize(
    ("python", "wire"),
    [
        ("gl_account_id", "GLAccountID"),
        ("customer_id", "CustomerID"),
        ("payment_reference", "PaymentReference"),
        ("payment_method_code", "PaymentMethodCode"),
        ("needs_review", "NeedsReview"),
        ("original_payment_reference", "OriginalPaymentReference"),
    ],
)
def test_wire_names_follow_the_seed(python: str, wire: str) -> None:
    assert wire_name(python) == wire


def test_wire_drops_server_fields_and_nones() -> None:
    payment = Payment.model_validate(
        {
            "PaymentReference": "T1",
            "PaymentDate": "2024-05-01",
            "Amount": "10.00",
            "CustomerID": "C1",
            "AppliedAmount": "10.00",
            "UnappliedAmount": "0.00",
            "CreatedAt": "2024-05-01T00:00:00Z",
        }
    )
    wire = payment.wire()
    assert wire == {
        "PaymentReference": "T1",
        "PaymentDate": "2024-05-01",
        "Amount": "10.00",
        "CustomerID": "C1",
        "GLAccountID": "1010",
        "PaymentMethodCode": "CC",
        "PaymentStatus": "Paid",
        "OnAccount": False,
        "NeedsReview": False,
    }
    invoice = Invoice(
        invoice_id="I1",
        customer_id="C1",
        invoice_date="2024-05-01",
        total_amount="5",
        balance_due="5",
        status="Open",
    )
    assert "BalanceDue" not in invoice.wire() and "Status" not in invoice.wire()


def test_unknown_statuses_rejected() -> None:
    with pytest.raises(ValueError):
        Payment(
            payment_reference="T",
            payment_date="2024-01-01",
            amount=Decimal(1),
            customer_id="C",
            payment_status="Approved",
        )
    assert PaymentStatus("OnAccount") is PaymentStatus.ON_ACCOUNT


def test_update_sends_only_what_was_set() -> None:
    change = InvoiceUpdate(memo="hello", needs_review=True)
    sent = change.model_dump(mode="json", by_alias=True, exclude_unset=True)
    assert sent == {"Memo": "hello", "NeedsReview": True}


def test_journal_entry_lines_parse() -> None:
    entry = JournalEntry.model_validate(
        {
            "Reference": "T1",
            "EntryDate": "2024-05-01",
            "Lines": [{"GLAccountID": "1010", "Debit": "1.00"}, {"GLAccountID": "1200"}],
        }
    )
    assert entry.lines[1].debit == Decimal("0.00") and entry.lines[1].credit == Decimal("0.00")


def test_settings_from_environment_keep_the_key_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_BASE_URL", "http://sage.local:9000")
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_API_KEY", "s3cret-key")
    monkeypatch.setenv("PAYSTREAM_SAGEPRO_COMPANY_ID", "ACME")
    settings = SageProSettings()
    assert settings.base_url == "http://sage.local:9000"
    assert settings.api_key.get_secret_value() == "s3cret-key"
    assert settings.company_id == "ACME"
    assert "s3cret-key" not in repr(settings) and "s3cret-key" not in str(settings.model_dump())
    client = SageProRestClient.from_settings(settings)
    assert "s3cret-key" not in repr(client)


def test_settings_file_section(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "paystream.toml"
    config.write_text(
        '[sagepro]\nbase_url = "http://from-file:1"\napi_key = "k"\ntimeout_seconds = 3\n'
    )
    monkeypatch.setenv("PAYSTREAM_CONFIG", str(config))
    monkeypatch.delenv("PAYSTREAM_SAGEPRO_BASE_URL", raising=False)
    settings = SageProSettings()
    assert settings.base_url == "http://from-file:1" and settings.timeout_seconds == 3


async def test_rest_client_implements_the_backend_protocol() -> None:
    client = SageProRestClient("http://127.0.0.1:1", "k")
    try:
        assert isinstance(client, SageProBackend)
        assert await client.authenticate() == {"X-Api-Key": "k"}
    finally:
        await client.aclose()
