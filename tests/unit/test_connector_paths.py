"""Ids in request paths: any text is one escaped segment under its resource, or a RecordError
before any request (hostile input: ``../``, ``?``, ``#``, control characters, huge ids)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.base.errors import RecordError
from connectors.base.paths import MAX_ID_LENGTH, path_segment
from connectors.base.retry import RetryPolicy
from connectors.paytrace.client import PayTraceClient
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.models import InvoiceUpdate
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings

ONCE = RetryPolicy(attempts=1)
HOSTILE = ["", ".", "..", "../x", "a/b", "?q=1", "#f", "%2e%2e", "a\nb", "\x00", "x" * 256, "é/ü"]
ids = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=300))


def _segments(request: httpx.Request) -> list[str]:
    raw = request.url.raw_path.decode("ascii").partition("?")[0]
    return raw.split("/")[1:]


def _recorder() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token"):
            return httpx.Response(200, json={"access_token": "00Dx!t", "instance_url": "http://sf"})
        seen.append(request)
        if request.method == "GET" and "/api/" in request.url.path:
            return httpx.Response(404, json={"error": {"code": "PAYMENT_NOT_FOUND"}})
        if "/sobjects/" in request.url.path and request.method == "GET":
            return httpx.Response(200, json={"Id": "001000000000001AAA"})
        if request.method == "PATCH" and request.url.path.count("/") == 7:
            return httpx.Response(200, json={"id": "a01", "success": True, "created": True})
        if request.method == "PUT":
            return httpx.Response(
                200,
                json={
                    "InvoiceID": "I",
                    "CustomerID": "C",
                    "InvoiceDate": "2024-05-01",
                    "TotalAmount": "1",
                },
            )
        return httpx.Response(204)

    return seen, httpx.MockTransport(handle)


def _check(
    value: str,
    call: Callable[[Any], Awaitable[object]],
    make: Callable[[httpx.MockTransport], Any],
    prefix: list[str],
    tail: int = 0,
) -> None:
    """``call(client)`` either sent requests whose path is ``prefix`` + the id (+ ``tail``
    fixed segments), or raised RecordError with ``invalid_id`` having sent nothing."""
    seen, transport = _recorder()

    async def run() -> None:
        client = make(transport)
        try:
            await call(client)
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    except RecordError as exc:
        assert exc.code == "invalid_id" and exc.reason.endswith(":invalid_id")
        assert seen == []
        return
    assert seen, "no request and no RecordError"
    for request in seen:
        segments = _segments(request)
        assert len(segments) == len(prefix) + 1 + tail, segments
        assert segments[: len(prefix)] == prefix
        assert unquote(segments[len(prefix)]) == value


def _sage(transport: httpx.MockTransport) -> SageProRestClient:
    return SageProRestClient("http://sage", "k", retry=ONCE, transport=transport)


def _salesforce(transport: httpx.MockTransport) -> SalesforceClient:
    settings = SalesforceSettings(login_url="http://login", client_id="c", client_secret="s")  # type: ignore[arg-type]
    return SalesforceClient(settings, retry=ONCE, transport=transport)


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ids)
@example("../../admin")
def test_sagepro_payment_and_invoice_paths(value: str) -> None:
    _check(value, lambda c: c.get_payment(value), _sage, ["api", "payments"])
    _check(value, lambda c: c.get_customer(value), _sage, ["api", "customers"])
    _check(value, lambda c: c.get_journal_entry(value), _sage, ["api", "journalentries"])
    changes = InvoiceUpdate()
    _check(value, lambda c: c.update_invoice(value, changes), _sage, ["api", "invoices"])


DATA = ["services", "data", "v62.0"]


@FAST
@given(ids)
@example("001/../../limits")
def test_salesforce_sobject_paths(value: str) -> None:
    _check(value, lambda c: c.get("Account", value), _salesforce, [*DATA, "sobjects", "Account"])
    _check(value, lambda c: c.delete("Account", value), _salesforce, [*DATA, "sobjects", "Account"])
    upsert = [*DATA, "sobjects", "Payment__c", "PaymentID__c"]
    _check(value, lambda c: c.upsert("Payment__c", "PaymentID__c", value, {}), _salesforce, upsert)


@FAST
@given(ids)
def test_salesforce_object_names_are_segments_too(value: str) -> None:
    _check(
        value, lambda c: c.get(value, "001000000000001"), _salesforce, [*DATA, "sobjects"], tail=1
    )


@pytest.mark.parametrize("value", ["", ".", "..", "x" * (MAX_ID_LENGTH + 1), "a\x7fb", "\u2028"])
def test_unusable_ids_are_record_errors(value: str) -> None:
    with pytest.raises(RecordError) as caught:
        path_segment(value, system="sagepro")
    assert caught.value.reason == "sagepro:invalid_id"


def test_a_segment_is_escaped_whole() -> None:
    assert path_segment("a/b?c#d%e f", system="x") == "a%2Fb%3Fc%23d%25e%20f"
    assert path_segment(12345, system="x") == "12345"


@pytest.mark.parametrize("value", ["abc", "12 34", "-5", "1e3", "١٢٣", "", "9" * 19])
def test_paytrace_export_by_id_refuses_non_numeric_text(value: str) -> None:
    seen, transport = _recorder()

    async def run() -> None:
        async with PayTraceClient("http://pt", "u", "p", retry=ONCE, transport=transport) as pt:
            await pt.export_by_id(value)

    with pytest.raises(RecordError) as caught:
        asyncio.run(run())
    assert caught.value.reason == "paytrace:invalid_id" and seen == []
