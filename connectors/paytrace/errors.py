"""PayTrace's failures mapped onto paystream's actions: one table, one classifier.

PayTrace answers API errors with HTTP 400 and ``{"success": false, "response_code": 1,
"errors": {"<key>": ["message", ...]}}``; OAuth failures with ``{"error": "invalid_grant" |
"invalid_token"}``. A declined card is NOT an error here: PayTrace sends it with HTTP 400 too,
but with a transaction body (``response_code`` 102, a ``transaction_id``), and the client
returns it as a typed result. The same holds for the other business outcomes below.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base.errors import (
    Action,
    ConnectorError,
    ErrorRule,
    ErrorTable,
    parse_retry_after,
)

SYSTEM = "paytrace"

# response_code values that are outcomes of a processed request, whatever the HTTP status.
BUSINESS_OUTCOME_CODES = frozenset({102, 103, 107, 110, 113})

# When PayTrace lists several error keys, the one whose action matters most decides.
_ACTION_SEVERITY = {
    Action.FATAL: 0,
    Action.REFRESH_TOKEN: 1,
    Action.RATE_LIMITED: 2,
    Action.RETRY: 3,
    Action.DEAD_LETTER: 4,
    Action.IDEMPOTENT_SUCCESS: 5,
}

ERROR_TABLE = ErrorTable(
    SYSTEM,
    by_status_and_code={
        (401, "invalid_token"): ErrorRule(
            Action.REFRESH_TOKEN, "access token expired or unknown: log in again"
        ),
    },
    by_code={
        "invalid_token": ErrorRule(Action.REFRESH_TOKEN, "access token rejected: log in again"),
        "invalid_grant": ErrorRule(Action.FATAL, "username or password refused"),
        "invalid_client": ErrorRule(Action.FATAL, "OAuth client refused"),
        "unsupported_grant_type": ErrorRule(Action.FATAL, "client sends a wrong grant type"),
        "981": ErrorRule(Action.FATAL, "API user lacks the permission for this call"),
        "30": ErrorRule(Action.DEAD_LETTER, "customer id not found in the vault"),
        "35": ErrorRule(Action.DEAD_LETTER, "invalid card number"),
        "43": ErrorRule(Action.DEAD_LETTER, "invalid expiration month"),
        "44": ErrorRule(Action.DEAD_LETTER, "invalid or past expiration year"),
        "58": ErrorRule(Action.DEAD_LETTER, "transaction id not found"),
        "817": ErrorRule(
            Action.DEAD_LETTER, "refund of a transaction not settled yet: void it instead"
        ),
        "171": ErrorRule(Action.IDEMPOTENT_SUCCESS, "customer id already exists in the vault"),
    },
    by_status={
        401: ErrorRule(Action.REFRESH_TOKEN, "unauthorized: log in again"),
        403: ErrorRule(Action.FATAL, "forbidden for this API user"),
        408: ErrorRule(Action.RETRY, "request timeout"),
        409: ErrorRule(Action.RETRY, "conflict: try again"),
        429: ErrorRule(Action.RATE_LIMITED, "throttled: wait for Retry-After"),
    },
    default_4xx=ErrorRule(Action.DEAD_LETTER, "request refused by PayTrace"),
    default_5xx=ErrorRule(Action.RETRY, "PayTrace server error"),
)


def _json_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_business_outcome(body: dict[str, Any]) -> bool:
    return body.get("response_code") in BUSINESS_OUTCOME_CODES and "errors" not in body


def _pick_error_key(keys: list[str], status: int) -> str:
    return min(keys, key=lambda key: _ACTION_SEVERITY[ERROR_TABLE.rule(status, key).action])


def classify_response(response: httpx.Response) -> ConnectorError | None:
    """None for a success or a business outcome (decline etc.), else the classified error."""
    status = response.status_code
    if status < 400:
        return None
    body = _json_body(response)
    if is_business_outcome(body):
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        keys = [str(key) for key in errors]
        code = _pick_error_key(keys, status)
        messages = [str(m) for key in keys for m in (errors.get(key) or [])]
        message = "; ".join(messages) or str(body.get("status_message", ""))
        return ERROR_TABLE.error(status, code, message, retry_after=retry_after, fields=tuple(keys))
    oauth_error = body.get("error")
    if isinstance(oauth_error, str):
        message = str(body.get("error_description") or oauth_error)
        return ERROR_TABLE.error(status, oauth_error, message, retry_after=retry_after)
    message = str(body.get("status_message") or response.reason_phrase or "")
    return ERROR_TABLE.error(status, None, message, retry_after=retry_after)
