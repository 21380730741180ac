"""PayTrace's error table and classifier: every documented key and status to its action."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base.errors import Action
from connectors.paytrace.errors import ERROR_TABLE, classify_response


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _errors(*keys: str) -> dict[str, Any]:
    return {
        "success": False,
        "response_code": 1,
        "status_message": "One or more errors has occurred.",
        "errors": {key: [f"message {key}"] for key in keys},
    }


@pytest.mark.parametrize(
    ("key", "action"),
    [
        ("30", Action.DEAD_LETTER),
        ("35", Action.DEAD_LETTER),
        ("43", Action.DEAD_LETTER),
        ("44", Action.DEAD_LETTER),
        ("58", Action.DEAD_LETTER),
        ("171", Action.IDEMPOTENT_SUCCESS),
        ("981", Action.FATAL),
    ],
)
def test_error_keys_map_to_actions(key: str, action: Action) -> None:
    error = classify_response(_response(400, _errors(key)))
    assert error is not None
    assert error.action is action
    assert error.code == key
    assert error.reason == f"paytrace:{key}"
    assert ERROR_TABLE.rule(400, key).reason  # every rule says why


def test_most_severe_key_decides_when_several_are_listed() -> None:
    error = classify_response(_response(400, _errors("35", "981", "171")))
    assert error is not None and error.action is Action.FATAL and error.code == "981"
    assert set(error.fields) == {"35", "981", "171"}
    assert "message 35" in error.message


@pytest.mark.parametrize("code", [102, 103, 107, 110, 113])
def test_business_outcomes_are_not_errors(code: int) -> None:
    body = {"success": False, "response_code": code, "status_message": "x", "transaction_id": 5}
    assert classify_response(_response(400, body)) is None


def test_success_is_not_an_error() -> None:
    assert classify_response(_response(200, {"success": True, "response_code": 101})) is None


def test_expired_token_asks_for_refresh() -> None:
    error = classify_response(
        _response(401, {"error": "invalid_token", "error_description": "The access token expired"})
    )
    assert error is not None and error.action is Action.REFRESH_TOKEN
    assert error.message == "The access token expired"


def test_refused_login_is_fatal() -> None:
    error = classify_response(_response(400, {"error": "invalid_grant", "error_description": "no"}))
    assert error is not None and error.action is Action.FATAL and not error.retriable


def test_throttling_carries_retry_after() -> None:
    error = classify_response(_response(429, {"success": False}, {"Retry-After": "7"}))
    assert error is not None and error.action is Action.RATE_LIMITED
    assert error.retry_after == 7.0 and error.retriable


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_retry(status: int) -> None:
    error = classify_response(_response(status, {"success": False, "response_code": 1}))
    assert error is not None and error.action is Action.RETRY


def test_non_json_error_body_still_classified() -> None:
    error = classify_response(httpx.Response(502, text="<html>bad gateway</html>"))
    assert error is not None and error.action is Action.RETRY and error.status == 502


def test_unknown_4xx_is_dead_lettered() -> None:
    error = classify_response(_response(400, _errors("12345")))
    assert error is not None and error.action is Action.DEAD_LETTER
