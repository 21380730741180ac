"""The Sage Pro error table and the parsing of contract error bodies."""

from __future__ import annotations

import httpx
import orjson
import pytest

from connectors.base.errors import Action
from connectors.sagepro.errors import ERROR_TABLE, classify_response


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers=headers)


def _error(code: str, field: str = "X") -> dict[str, object]:
    return {"error": {"code": code, "message": "m", "details": [{"field": field, "issue": "i"}]}}


@pytest.mark.parametrize(
    ("status", "code", "action"),
    [
        (404, "INVOICE_NOT_FOUND", Action.DEAD_LETTER),
        (404, "CUSTOMER_NOT_FOUND", Action.DEAD_LETTER),
        (409, "DUPLICATE_PAYMENT", Action.IDEMPOTENT_SUCCESS),
        (409, "DUPLICATE_JOURNAL_ENTRY", Action.IDEMPOTENT_SUCCESS),
        (409, "DUPLICATE_CUSTOMER", Action.IDEMPOTENT_SUCCESS),
        (422, "VALIDATION_ERROR", Action.DEAD_LETTER),
        (422, "OVERPAYMENT", Action.DEAD_LETTER),
        (422, "UNBALANCED_ENTRY", Action.DEAD_LETTER),
        (401, "UNAUTHORIZED", Action.FATAL),
        (401, None, Action.FATAL),
        (429, "RATE_LIMITED", Action.RATE_LIMITED),
        (429, None, Action.RATE_LIMITED),
        (500, None, Action.RETRY),
        (503, "SERVICE_UNAVAILABLE", Action.RETRY),
        (418, "SOMETHING_NEW", Action.DEAD_LETTER),
    ],
)
def test_table_maps_status_and_code(status: int, code: str | None, action: Action) -> None:
    rule = ERROR_TABLE.rule(status, code)
    assert rule.action is action
    assert rule.reason


def test_every_coded_rule_has_a_reason() -> None:
    assert all(rule.reason for rule in ERROR_TABLE.by_code.values())


def test_success_is_not_an_error() -> None:
    assert classify_response(_response(201, {"PaymentReference": "T1"})) is None


def test_contract_body_parsed_into_error() -> None:
    error = classify_response(_response(404, _error("INVOICE_NOT_FOUND", "InvoiceID")))
    assert error is not None
    assert error.action is Action.DEAD_LETTER
    assert (error.status, error.code, error.fields) == (404, "INVOICE_NOT_FOUND", ("InvoiceID",))
    assert error.reason == "sagepro:INVOICE_NOT_FOUND"
    assert error.details == ({"field": "InvoiceID", "issue": "i"},)
    assert not error.retriable


def test_duplicate_carries_the_existing_record() -> None:
    existing = {"PaymentReference": "T1", "Amount": "5.00"}
    error = classify_response(_response(409, {**_error("DUPLICATE_PAYMENT"), "existing": existing}))
    assert error is not None
    assert error.action is Action.IDEMPOTENT_SUCCESS
    assert error.existing == existing


def test_rate_limit_reads_retry_after() -> None:
    error = classify_response(_response(429, _error("RATE_LIMITED"), {"Retry-After": "2.5"}))
    assert error is not None
    assert error.retriable and error.retry_after == 2.5


@pytest.mark.parametrize("content", [b"<html>bad gateway</html>", b"[]", b'{"error": "x"}'])
def test_non_contract_bodies_fall_back_to_status(content: bytes) -> None:
    error = classify_response(httpx.Response(502, content=content))
    assert error is not None
    assert error.action is Action.RETRY and error.code is None and error.existing is None
