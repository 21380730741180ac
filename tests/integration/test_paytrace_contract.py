"""PayTrace contract: PayTraceClient against the emulator over real HTTP.

Covers every endpoint and error path, and checks the emulator's bodies carry the keys of
PayTrace's documented examples (tests/fixtures/paytrace/documented_examples.json).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from connectors.base.emulator import EmulatorServer
from connectors.base.errors import Action, ConnectorError
from connectors.base.retry import RetryPolicy
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.emulator.app import create_app
from connectors.paytrace.emulator.config import EmulatorConfig
from connectors.paytrace.models import ResponseCode, TransactionType
from stream import metrics

pytestmark = pytest.mark.integration

DOCS = json.loads(
    (Path(__file__).parents[1] / "fixtures/paytrace/documented_examples.json").read_text()
)
VISA, MASTERCARD, DECLINER = "4111111111111111", "5454545454545454", "4000000000000002"
ZONE = "America/Los_Angeles"
FAST_RETRY = RetryPolicy(attempts=4, initial_seconds=0.01, max_seconds=0.05, total_seconds=5)
EXPORT_TIME = re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M$")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(data_dir=tmp_path / "paytrace", timezone=ZONE)
    async with EmulatorServer(create_app(config)) as running:
        yield running


@pytest.fixture
async def client(server: EmulatorServer) -> AsyncIterator[PayTraceClient]:
    async with PayTraceClient(
        server.base_url, "demo", "demo-password", timezone=ZONE, retry=FAST_RETRY
    ) as paytrace:
        assert isinstance(paytrace, PayTraceClient)
        yield paytrace


@pytest.fixture
async def raw(server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client holding a fresh token, to look at bodies as PayTrace sends them."""
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        login = {"grant_type": "password", "username": "demo", "password": "demo-password"}
        token = (await http.post("/oauth/token", data=login)).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        yield http


async def control(server: EmulatorServer, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(f"/_emulator/{path}", json=body or {})
        response.raise_for_status()
        return response.json()


def counter(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def today() -> date:
    """The emulator's merchant-local date."""
    return datetime.now(ZoneInfo(ZONE)).date()


# --- shapes against the documentation ---------------------------------------------------


async def test_token_body_has_documented_keys(server: EmulatorServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        login = {"grant_type": "password", "username": "demo", "password": "demo-password"}
        body = (await http.post("/oauth/token", data=login)).json()
    assert set(body) == set(DOCS["oauth_token"])
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200


async def test_sale_and_customer_bodies_have_documented_keys(raw: httpx.AsyncClient) -> None:
    created = await raw.post(
        "/v1/customer/create",
        json={
            "customer_id": "customer456",
            "credit_card": {"number": VISA, "expiration_month": "12", "expiration_year": "2035"},
            "billing_address": {"name": "Steve Smith", "zip": "85284"},
        },
    )
    assert created.status_code == 200
    assert set(DOCS["create_customer_response"]) <= set(created.json())
    assert created.json()["status_message"] == DOCS["create_customer_response"]["status_message"]
    sale = await raw.post(
        "/v1/transactions/sale/by_customer", json={"amount": 4, "customer_id": "customer456"}
    )
    assert set(DOCS["sale_by_customer_response"]) <= set(sale.json())
    updated = await raw.post(
        "/v1/customer/update",
        json={
            "customer_id": "customer456",
            "billing_address": {"name": "Kevin Smith", "zip": 85284},
        },
    )
    assert set(DOCS["update_customer_response"]) <= set(updated.json())
    assert updated.json()["status_message"] == DOCS["update_customer_response"]["status_message"]


async def test_export_record_has_documented_keys_and_time_format(raw: httpx.AsyncClient) -> None:
    await raw.post(
        "/v1/transactions/sale/keyed",
        json=DOCS["keyed_sale_request"]
        | {"credit_card": {"number": VISA, "expiration_month": "12", "expiration_year": "2035"}},
    )
    day = today().strftime("%m/%d/%Y")
    body = (
        await raw.post(
            "/v1/transactions/export/by_date_range", json={"start_date": day, "end_date": day}
        )
    ).json()
    documented = DOCS["export_by_date_range_response"]
    assert set(documented) <= set(body)
    (record,) = body["transactions"]
    (example,) = documented["transactions"]
    assert set(example) <= set(record)
    for nested in ("credit_card", "created", "billing_address", "shipping_address"):
        assert set(example[nested]) <= set(record[nested]), nested
    assert EXPORT_TIME.match(record["created"]["at"])
    assert record["settled"] == ""
    assert record["credit_card"]["masked_number"] == "************1111"


# --- transactions ------------------------------------------------------------------------


async def test_keyed_sale_approves(client: PayTraceClient) -> None:
    result = await client.sale_keyed(
        "25.00", VISA, 12, 2035, csc="123", billing_address={"zip": "85284"}, invoice_id="INV-1"
    )
    assert result.approved and result.outcome is ResponseCode.APPROVED
    assert result.transaction_id and result.approval_code.startswith("TAS")
    assert (result.avs_response, result.csc_response) == ("Full Exact Match", "Match")
    assert result.masked_card_number == "xxxxxxxxxxxx1111"
    exported = await client.export_by_id(result.transaction_id)
    assert exported is not None and exported.invoice_id == "INV-1"
    assert exported.amount == Decimal("25") and exported.status == "APPROVED"


async def test_decline_is_a_typed_result_with_http_400(
    client: PayTraceClient, raw: httpx.AsyncClient
) -> None:
    declined = await client.sale_keyed("10.00", DECLINER, 1, 2035)
    assert declined.declined and not declined.approved and declined.transaction_id
    by_amount = await client.authorize_keyed("10.02", VISA, 1, 2035)
    assert by_amount.outcome is ResponseCode.DECLINED
    body = {
        "amount": "10.02",
        "credit_card": {"number": VISA, "expiration_month": 1, "expiration_year": 2035},
    }
    response = await raw.post("/v1/transactions/sale/keyed", json=body)
    assert response.status_code == 400 and response.json()["response_code"] == 102
    exported = await client.export_by_id(declined.transaction_id)
    assert exported is not None and exported.status == "DECLINED"


async def test_avs_and_csc_mismatch_auto_void(client: PayTraceClient) -> None:
    avs = await client.sale_keyed("10.00", VISA, 1, 2035, billing_address={"zip": "99999"})
    csc = await client.sale_keyed("10.00", VISA, 1, 2035, csc="000")
    assert avs.outcome is ResponseCode.AUTO_VOIDED and avs.avs_response == "No Match"
    assert csc.outcome is ResponseCode.AUTO_VOIDED and csc.csc_response == "No Match"
    assert not avs.approved


async def test_authorize_capture_changes_the_same_transaction(client: PayTraceClient) -> None:
    auth = await client.authorize_keyed("50.00", MASTERCARD, 6, 2034)
    assert auth.approved and auth.transaction_id
    before = await client.export_by_id(auth.transaction_id)
    assert before is not None and before.status == "AUTHORIZED"
    assert before.transaction_type is TransactionType.AUTHORIZATION
    captured = await client.capture(auth.transaction_id, "42.50")
    assert captured.outcome is ResponseCode.CAPTURED
    assert captured.transaction_id == auth.transaction_id
    after = await client.export_by_id(auth.transaction_id)
    assert after is not None and after.status == "CAPTURED" and after.amount == Decimal("42.50")
    again = await client.capture(auth.transaction_id)
    assert again.outcome is ResponseCode.CAPTURE_FAILED and not again.success


async def test_void_by_customer_authorization(client: PayTraceClient) -> None:
    await client.create_customer("cust-void", VISA, 3, 2033)
    auth = await client.authorize_by_customer("cust-void", "12.00", invoice_id="INV-V")
    assert auth.approved and auth.transaction_id
    voided = await client.void(auth.transaction_id)
    assert voided.outcome is ResponseCode.VOIDED
    exported = await client.export_by_id(auth.transaction_id)
    assert exported is not None and exported.status == "VOIDED"
    assert exported.customer_id == "cust-void"
    assert (await client.void(auth.transaction_id)).outcome is ResponseCode.VOID_FAILED


async def test_refunds_partial_full_and_over(client: PayTraceClient) -> None:
    await client.create_customer("cust-refund", VISA, 3, 2033, billing_address={"zip": "85284"})
    sale = await client.sale_by_customer("cust-refund", "30.00", "INV-R")
    assert sale.approved and sale.transaction_id
    assert (await client.settle()).transaction_count == 1  # PayTrace refunds settled sales only
    partial = await client.refund_for_transaction(sale.transaction_id, "10.00")
    assert partial.outcome is ResponseCode.REFUNDED
    assert partial.transaction_id != sale.transaction_id
    over = await client.refund_for_transaction(sale.transaction_id, "25.00")
    assert over.outcome is ResponseCode.REFUND_FAILED
    rest = await client.refund_for_transaction(sale.transaction_id)
    assert rest.approved and rest.transaction_id
    refund = await client.export_by_id(rest.transaction_id)
    assert refund is not None and refund.transaction_type is TransactionType.REFUND
    assert refund.amount == Decimal("20") and refund.original_transaction_id == sale.transaction_id
    assert refund.invoice_id == "INV-R"
    keyed = await client.refund_keyed("5.00", MASTERCARD, 1, 2034)
    assert keyed.outcome is ResponseCode.REFUNDED
    assert (await client.refund_keyed("5.00", DECLINER, 1, 2034)).outcome is (
        ResponseCode.REFUND_FAILED
    )


# --- customer vault ----------------------------------------------------------------------


async def test_customer_lifecycle_and_duplicate_is_idempotent(client: PayTraceClient) -> None:
    created = await client.create_customer(
        "cust-1", VISA, 12, 2035, billing_address={"name": "Ada", "zip": "85284"}, email="a@x.io"
    )
    assert created.response_code == ResponseCode.CUSTOMER_CREATED and not created.already_existed
    duplicate = await client.create_customer("cust-1", VISA, 12, 2035)
    assert duplicate.success and duplicate.already_existed and duplicate.response_code == 171
    updated = await client.update_customer(
        "cust-1", card_number=MASTERCARD, expiration_month=1, expiration_year=2036
    )
    assert updated.response_code == ResponseCode.CUSTOMER_UPDATED
    assert updated.masked_card_number == "xxxxxxxxxxxx5454"
    (exported,) = await client.export_customers("cust-1")
    assert exported.email == "a@x.io" and exported.credit_card is not None
    assert exported.credit_card.masked_number.endswith("5454")
    assert exported.created is not None and exported.created.at.tzinfo is not None
    deleted = await client.delete_customer("cust-1")
    assert deleted.response_code == ResponseCode.CUSTOMER_DELETED
    assert await client.export_customers() == []
    with pytest.raises(ConnectorError) as missing:
        await client.delete_customer("cust-1")
    assert missing.value.action is Action.DEAD_LETTER and missing.value.code == "30"
    assert (await client.delete_customer("cust-1", missing_ok=True)).success


# --- exports and settlement --------------------------------------------------------------


async def test_date_range_selects_whole_local_days_and_filters(
    client: PayTraceClient, server: EmulatorServer
) -> None:
    await control(server, "clock", {"offset_seconds": -2 * 86400})
    old = await client.sale_keyed("1.00", VISA, 1, 2035, invoice_id="OLD")
    await control(server, "clock", {"offset_seconds": 0})
    new_sale = await client.sale_keyed("2.00", VISA, 1, 2035, invoice_id="NEW")
    await client.authorize_keyed("3.00", VISA, 1, 2035)
    day = today()
    todays = await client.export_by_date_range(day, day)
    assert {t.invoice_id for t in todays} >= {"NEW"} and "OLD" not in {t.invoice_id for t in todays}
    assert all(t.created.at.date() == day and t.created.at.tzinfo is not None for t in todays)
    window = await client.export_by_date_range(day - timedelta(days=2), day)
    assert {old.transaction_id, new_sale.transaction_id} <= {t.transaction_id for t in window}
    sales = await client.export_by_date_range(day, day, transaction_type="SALE")
    assert [t.transaction_id for t in sales] == [new_sale.transaction_id]
    assert await client.export_by_id(1) is None
    with pytest.raises(ValueError):
        await client.export_by_date_range(day, day - timedelta(days=1))


async def test_settlement_marks_settled_and_batches_have_totals(
    client: PayTraceClient, server: EmulatorServer
) -> None:
    sale = await client.sale_keyed("100.00", VISA, 1, 2035)
    auth = await client.authorize_keyed("40.00", VISA, 1, 2035)
    pending = await client.authorize_keyed("7.00", VISA, 1, 2035)
    await client.sale_keyed("9.02", VISA, 1, 2035)  # declined: never settles
    assert sale.transaction_id and auth.transaction_id and pending.transaction_id
    await client.capture(auth.transaction_id)
    settled = await control(server, "settle")
    assert settled["transaction_count"] == 2 and settled["net_amount"] == 140
    await client.refund_for_transaction(sale.transaction_id, "15.00")
    refunds = await control(server, "settle")
    assert refunds["transaction_count"] == 1 and refunds["net_amount"] == -15
    (batch,) = await client.export_batches(batch_number=settled["batch_number"])
    assert (batch.sales_count, batch.sales_amount) == (2, Decimal("140"))
    assert (batch.refund_count, batch.refund_amount) == (0, Decimal("0"))
    assert batch.net_amount == Decimal("140") and len(batch.transactions) == 2
    (second,) = await client.export_batches(batch_number=refunds["batch_number"])
    assert (second.refund_count, second.refund_amount) == (1, Decimal("15"))
    assert [b.batch_number for b in await client.export_batches(today())] == [
        batch.batch_number,
        second.batch_number,
    ]
    exported = await client.export_by_id(sale.transaction_id)
    assert exported is not None and exported.settled is not None
    assert exported.batch_number == batch.batch_number
    uncaptured = await client.export_by_id(pending.transaction_id)
    assert uncaptured is not None and uncaptured.settled is None
    assert (await client.void(sale.transaction_id)).outcome is ResponseCode.VOID_FAILED
    assert (await control(server, "settle"))["batch_number"] is None


async def test_refund_before_settlement_is_817_and_void_works(
    client: PayTraceClient, raw: httpx.AsyncClient
) -> None:
    sale = await client.sale_keyed("25.00", VISA, 1, 2035, invoice_id="INV-817")
    assert sale.approved and sale.transaction_id
    response = await raw.post(
        "/v1/transactions/refund/for_transaction", json={"transaction_id": sale.transaction_id}
    )
    body = response.json()
    assert response.status_code == 400 and body["success"] is False
    assert body["response_code"] == 1 and list(body["errors"]) == ["817"]
    assert "Only settled transactions can be refunded" in body["errors"]["817"][0]
    with pytest.raises(ConnectorError) as caught:
        await client.refund_for_transaction(sale.transaction_id, "5.00")
    assert (caught.value.action, caught.value.code) == (Action.DEAD_LETTER, "817")
    assert (await client.void(sale.transaction_id)).outcome is ResponseCode.VOIDED
    exported = await client.export_by_id(sale.transaction_id)
    assert exported is not None and exported.status == "VOIDED"


async def test_settle_is_an_api_call(client: PayTraceClient, raw: httpx.AsyncClient) -> None:
    sale = await client.sale_keyed("60.00", VISA, 1, 2035)
    await client.sale_keyed("5.00", VISA, 1, 2035)
    assert sale.transaction_id
    unauthenticated = await httpx.AsyncClient(base_url=str(raw.base_url)).post(
        "/v1/transactions/settle", json={}
    )
    assert unauthenticated.status_code == 401
    closed = await client.settle()
    assert closed.success and closed.response_code == 1
    assert (closed.transaction_count, closed.net_amount) == (2, Decimal("65"))
    (batch,) = await client.export_batches(batch_number=closed.batch_number)
    assert batch.net_amount == Decimal("65") and len(batch.transactions) == 2
    refund = await client.refund_for_transaction(sale.transaction_id, "10.00")
    assert refund.outcome is ResponseCode.REFUNDED
    empty = await client.settle()
    assert empty.batch_number is not None and empty.net_amount == Decimal("-10")
    assert (await client.settle()).batch_number is None


async def test_thousand_transactions_export_fast(client: PayTraceClient) -> None:
    async def one(index: int) -> None:
        result = await client.sale_keyed(f"{index + 1}.00", VISA, 1, 2035, invoice_id=f"I{index}")
        assert result.approved

    for start in range(0, 1000, 100):
        await asyncio.gather(*(one(i) for i in range(start, start + 100)))
    started = time.perf_counter()
    exported = await client.export_by_date_range(today(), today())
    elapsed = time.perf_counter() - started
    assert len(exported) == 1000
    assert len({t.transaction_id for t in exported}) == 1000
    assert elapsed < 2.0, f"export of 1000 took {elapsed:.2f}s"


# --- error paths -------------------------------------------------------------------------


async def test_bad_credentials_are_fatal(server: EmulatorServer) -> None:
    async with PayTraceClient(server.base_url, "demo", "wrong", retry=FAST_RETRY) as paytrace:
        assert isinstance(paytrace, PayTraceClient)
        with pytest.raises(ConnectorError) as caught:
            await paytrace.export_customers()
    assert caught.value.action is Action.FATAL and caught.value.code == "invalid_grant"
    assert caught.value.status == 400


async def test_expired_tokens_refresh_once_and_retry(
    client: PayTraceClient, server: EmulatorServer
) -> None:
    logins = "paystream_external_calls_total"
    labels = {"system": "paytrace", "endpoint": "/oauth/token", "outcome": "ok"}
    await client.export_customers()
    before = counter(logins, **labels)
    assert (await control(server, "expire_tokens"))["expired"] >= 1
    assert await client.export_customers() == []
    assert counter(logins, **labels) == before + 1
    await control(server, "clock", {"advance_seconds": 7201})  # past the token lifetime
    assert await client.export_customers() == []
    assert counter(logins, **labels) == before + 2


async def test_server_errors_are_retried(client: PayTraceClient, server: EmulatorServer) -> None:
    path = "/v1/customer/export"
    retries = counter("paystream_external_retries_total", system="paytrace", endpoint=path)
    await control(
        server, "faults", {"error_status": 503, "error_count": 2, "error_path_prefix": path}
    )
    assert await client.export_customers() == []
    after = counter("paystream_external_retries_total", system="paytrace", endpoint=path)
    assert after == retries + 2
    await control(server, "faults", {"error_status": 500, "error_count": 10})
    with pytest.raises(ConnectorError) as caught:
        await client.export_customers()
    assert caught.value.action is Action.RETRY and caught.value.status == 500


async def test_throttling_is_rate_limited_then_retried(server: EmulatorServer) -> None:
    await control(server, "faults", {"error_status": 429, "error_count": 1, "retry_after": 2})
    single = RetryPolicy(attempts=1)
    async with PayTraceClient(server.base_url, "demo", "demo-password", retry=single) as once:
        assert isinstance(once, PayTraceClient)
        with pytest.raises(ConnectorError) as caught:
            await once.export_customers()
    assert caught.value.action is Action.RATE_LIMITED and caught.value.retry_after == 2.0
    throttled = counter("paystream_external_throttled_total", system="paytrace")
    await control(server, "faults", {"error_status": 429, "error_count": 2, "retry_after": 0})
    async with PayTraceClient(
        server.base_url, "demo", "demo-password", retry=FAST_RETRY
    ) as paytrace:
        assert isinstance(paytrace, PayTraceClient)
        assert await paytrace.export_customers() == []
    assert counter("paystream_external_throttled_total", system="paytrace") == throttled + 2


async def test_validation_errors_dead_letter(
    client: PayTraceClient, raw: httpx.AsyncClient
) -> None:
    cases = [
        (client.sale_keyed("1.00", "4111111111111112", 1, 2035), "35"),
        (client.sale_keyed("1.00", VISA, 1, 2001), "44"),
        (client.void(123), "58"),
        (client.capture(123), "58"),
        (client.refund_for_transaction(123), "58"),
        (client.sale_by_customer("nobody", "1.00"), "30"),
    ]
    for call, key in cases:
        with pytest.raises(ConnectorError) as caught:
            await call
        assert (caught.value.action, caught.value.code) == (Action.DEAD_LETTER, key)
        assert not caught.value.retriable
    month = {
        "amount": "1.00",
        "credit_card": {"number": VISA, "expiration_month": 13, "expiration_year": 2035},
    }
    response = await raw.post("/v1/transactions/sale/keyed", json=month)
    assert response.status_code == 400 and "43" in response.json()["errors"]


async def test_every_validation_error_at_once(
    client: PayTraceClient, raw: httpx.AsyncClient
) -> None:
    """PayTrace checks every field and lists each failure (ActiveMerchant's remote test
    ``test_failed_purchase_with_multiple_errors`` gets 35 and 43 together)."""
    card = {"number": "4111111111111112", "expiration_month": 13, "expiration_year": 2035}
    response = await raw.post(
        "/v1/transactions/sale/keyed", json={"amount": 1, "credit_card": card}
    )
    body = response.json()
    assert response.status_code == 400 and body["response_code"] == 1
    assert set(body["errors"]) == {"35", "43"}
    assert body["errors"]["35"] == ["Please provide a valid Credit Card Number."]
    everything = {"amount": "-1", "credit_card": {"number": "12", "expiration_year": 1999}}
    response = await raw.post("/v1/transactions/authorization/keyed", json=everything)
    assert set(response.json()["errors"]) == {"39", "35", "43", "44"}
    response = await raw.post("/v1/customer/create", json={"credit_card": card})
    assert set(response.json()["errors"]) == {"1", "35", "43"}
    response = await raw.post(
        "/v1/transactions/refund/for_transaction", json={"transaction_id": 999, "amount": "x"}
    )
    assert set(response.json()["errors"]) == {"58", "39"}
    with pytest.raises(ConnectorError) as caught:
        await client.sale_keyed("1.00", "4111111111111112", 1, 2001)
    assert caught.value.code in {"35", "44"} and caught.value.action is Action.DEAD_LETTER
    assert "Credit Card Number" in str(caught.value) and "Expiration Year" in str(caught.value)


async def test_permission_denied_is_fatal_and_not_retried(
    client: PayTraceClient, server: EmulatorServer
) -> None:
    path = "/v1/batches/export"
    await control(server, "faults", {"permission_denied_prefix": "/v1/batches"})
    retries = counter("paystream_external_retries_total", system="paytrace", endpoint=path)
    with pytest.raises(ConnectorError) as caught:
        await client.export_batches()
    assert caught.value.action is Action.FATAL and caught.value.code == "981"
    assert counter("paystream_external_retries_total", system="paytrace", endpoint=path) == retries


async def test_reset_empties_state_but_keeps_tokens(
    client: PayTraceClient, server: EmulatorServer
) -> None:
    await client.create_customer("cust-reset", VISA, 1, 2035)
    await control(server, "reset")
    assert await client.export_customers() == []


# --- PCI -----------------------------------------------------------------------------------


async def test_no_card_number_or_csc_is_stored(
    client: PayTraceClient, server: EmulatorServer, tmp_path: Path
) -> None:
    await client.sale_keyed("10.00", VISA, 1, 2035, csc="4821")
    await client.create_customer("pci", MASTERCARD, 1, 2035, csc="7395")
    await client.authorize_keyed("10.00", "371449635392376", 1, 2035, csc="6604")
    stored = b"".join(path.read_bytes() for path in (tmp_path / "paytrace").iterdir())
    assert stored, "the emulator wrote its database"
    for secret in (VISA, MASTERCARD, "371449635392376", "4821", "7395", "6604"):
        assert secret.encode() not in stored
