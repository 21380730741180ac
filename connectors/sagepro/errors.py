"""Sage Pro error bodies -> actions: the one table every Sage Pro failure is looked up in.

Our contract's errors look like ``{"error": {"code": "INVOICE_NOT_FOUND", "message": "...",
"details": [{"field": "InvoiceID", "issue": "not found"}]}}``; a 409 duplicate also carries
``"existing"``: the record already stored under that reference.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from connectors.base.errors import (
    Action,
    AlreadyDone,
    ConfigurationError,
    ConnectorError,
    ErrorRule,
    ErrorTable,
    RateLimited,
    RecordError,
    Retriable,
    TokenExpired,
    parse_retry_after,
)

SYSTEM = "sagepro"

_DEAD = Action.DEAD_LETTER
_DONE = Action.IDEMPOTENT_SUCCESS

ERROR_TABLE = ErrorTable(
    SYSTEM,
    by_code={
        "UNAUTHORIZED": ErrorRule(Action.FATAL, "API key missing or refused; a key cannot refresh"),
        "FORBIDDEN": ErrorRule(Action.FATAL, "API key lacks access to this company"),
        "RATE_LIMITED": ErrorRule(Action.RATE_LIMITED, "too many requests; honour Retry-After"),
        "INVOICE_NOT_FOUND": ErrorRule(_DEAD, "no such invoice: the pipeline posts on account"),
        "CUSTOMER_NOT_FOUND": ErrorRule(_DEAD, "no such customer: create it first or park"),
        "ORDER_NOT_FOUND": ErrorRule(_DEAD, "no such sales order"),
        "PAYMENT_NOT_FOUND": ErrorRule(_DEAD, "refund/void names an unknown payment"),
        "DUPLICATE_PAYMENT": ErrorRule(_DONE, "payment reference already posted"),
        "DUPLICATE_JOURNAL_ENTRY": ErrorRule(_DONE, "journal entry reference already posted"),
        "DUPLICATE_CREDIT_MEMO": ErrorRule(_DONE, "credit memo reference already posted"),
        "DUPLICATE_CUSTOMER": ErrorRule(_DONE, "customer id already exists"),
        "DUPLICATE_INVOICE": ErrorRule(_DONE, "invoice id already exists"),
        "DUPLICATE_ORDER": ErrorRule(_DONE, "order number already exists"),
        "VALIDATION_ERROR": ErrorRule(_DEAD, "a field breaks Sage Pro's rules"),
        "OVERPAYMENT": ErrorRule(
            _DEAD, "payment exceeds the invoice balance and is not on account"
        ),
        "UNBALANCED_ENTRY": ErrorRule(_DEAD, "journal entry debits differ from credits"),
        "UNKNOWN_GL_ACCOUNT": ErrorRule(_DEAD, "GL account not in the chart of accounts"),
        "CREDIT_EXCEEDS_BALANCE": ErrorRule(_DEAD, "credit memo exceeds the invoice balance"),
        "REFUND_EXCEEDS_PAYMENT": ErrorRule(_DEAD, "refund exceeds what is left of the payment"),
        "INVOICE_CUSTOMER_MISMATCH": ErrorRule(_DEAD, "invoice belongs to another customer"),
        "TOTAL_BELOW_APPLIED": ErrorRule(_DEAD, "invoice total below what is paid and credited"),
    },
    by_status={
        401: ErrorRule(Action.FATAL, "API key missing or refused; a key cannot refresh"),
        403: ErrorRule(Action.FATAL, "forbidden"),
        408: ErrorRule(Action.RETRY, "request timeout"),
        429: ErrorRule(Action.RATE_LIMITED, "too many requests"),
    },
    default_4xx=ErrorRule(_DEAD, "client error"),
    default_5xx=ErrorRule(Action.RETRY, "server error"),
)


class SageProError(ConnectorError):
    """A classified Sage Pro failure; ``existing`` holds the stored record on a 409 duplicate.

    Built as one of the typed subclasses below (``classify_response``): the type is the action.
    """

    def __init__(
        self,
        message: str,
        *,
        existing: dict[str, Any] | None = None,
        details: tuple[dict[str, str], ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.existing = existing
        self.details = details


# SageProError first: its __init__ keeps the body's details; the second base gives the action.
class SageProRetriable(SageProError, Retriable):
    pass


class SageProTokenExpired(SageProError, TokenExpired):
    pass


class SageProRateLimited(SageProError, RateLimited):
    pass


class SageProRecordError(SageProError, RecordError):
    pass


class SageProFatal(SageProError, ConfigurationError):
    pass


class SageProAlreadyDone(SageProError, AlreadyDone):
    """A 409 duplicate: the client answers ``existing`` instead; it never leaves the client."""


ERROR_TYPES: dict[Action, type[SageProError]] = {
    Action.RETRY: SageProRetriable,
    Action.REFRESH_TOKEN: SageProTokenExpired,
    Action.RATE_LIMITED: SageProRateLimited,
    Action.DEAD_LETTER: SageProRecordError,
    Action.FATAL: SageProFatal,
    Action.IDEMPOTENT_SUCCESS: SageProAlreadyDone,
}


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return _as_dict(body)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def classify_response(response: httpx.Response) -> SageProError | None:
    """None for 2xx; otherwise the error, classified by (status, code) through ERROR_TABLE."""
    if response.status_code < 400:
        return None
    body = _error_body(response)
    error = _as_dict(body.get("error"))
    code = error.get("code") if isinstance(error.get("code"), str) else None
    raw_details = error.get("details")
    details = tuple(
        {"field": str(d.get("field", "")), "issue": str(d.get("issue", ""))}
        for d in (raw_details if isinstance(raw_details, list) else [])
        if isinstance(d, dict)
    )
    existing = body.get("existing")
    rule = ERROR_TABLE.rule(response.status_code, code)
    message = str(error.get("message") or rule.reason)
    return ERROR_TYPES[rule.action](
        message,
        system=SYSTEM,
        status=response.status_code,
        code=code,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        fields=tuple(d["field"] for d in details if d["field"]),
        existing=existing if isinstance(existing, dict) else None,
        details=details,
    )
