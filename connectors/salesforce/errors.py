"""Salesforce's failures mapped onto paystream's actions: one table for every response.

The same table classifies an HTTP error body (``[{"errorCode", "message", "fields"}]``), an
OAuth error (``{"error", "error_description"}``) and a per-record error inside an sObject
Collections result (``{"statusCode", "message", "fields"}``).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.base.errors import (
    Action,
    AlreadyDone,
    ConnectorError,
    ErrorRule,
    ErrorTable,
    parse_retry_after,
)
from connectors.salesforce.models import RecordResult

SYSTEM = "salesforce"

_R = ErrorRule
_DEAD = Action.DEAD_LETTER
_FATAL = Action.FATAL
_RETRY = Action.RETRY

SALESFORCE_ERRORS = ErrorTable(
    SYSTEM,
    by_code={
        # auth and limits
        "INVALID_SESSION_ID": _R(Action.REFRESH_TOKEN, "session expired or invalid"),
        "REQUEST_LIMIT_EXCEEDED": _R(Action.RATE_LIMITED, "org API request limit exceeded"),
        "INVALID_CLIENT": _R(_FATAL, "connected app credentials refused"),
        "INVALID_CLIENT_ID": _R(_FATAL, "unknown connected app client id"),
        "INVALID_GRANT": _R(_FATAL, "JWT assertion or user refused"),
        "INVALID_REQUEST": _R(_FATAL, "malformed token request"),
        "UNSUPPORTED_GRANT_TYPE": _R(_FATAL, "grant type not enabled"),
        "INSUFFICIENT_ACCESS": _R(_FATAL, "integration user lacks permission"),
        "INSUFFICIENT_ACCESS_OR_READONLY": _R(_FATAL, "integration user lacks permission"),
        "API_DISABLED_FOR_ORG": _R(_FATAL, "API access disabled for the org"),
        "API_CURRENTLY_DISABLED": _R(_FATAL, "API access disabled for the user"),
        # transient
        "UNABLE_TO_LOCK_ROW": _R(_RETRY, "record locked by another transaction"),
        "SERVER_UNAVAILABLE": _R(_RETRY, "server unavailable"),
        "UNKNOWN_EXCEPTION": _R(_RETRY, "unexpected server error"),
        "ALL_OR_NONE_OPERATION_ROLLED_BACK": _R(_RETRY, "rolled back with a failing sibling"),
        # this record cannot succeed as it is
        "REQUIRED_FIELD_MISSING": _R(_DEAD, "required field missing"),
        "INVALID_CROSS_REFERENCE_KEY": _R(_DEAD, "lookup to a missing record"),
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": _R(_DEAD, "value not in restricted picklist"),
        "INVALID_FIELD": _R(_DEAD, "unknown field"),
        "INVALID_FIELD_FOR_INSERT_UPDATE": _R(_DEAD, "field not writable"),
        "STRING_TOO_LONG": _R(_DEAD, "value longer than the field"),
        "MALFORMED_ID": _R(_DEAD, "malformed record id"),
        "INVALID_EMAIL_ADDRESS": _R(_DEAD, "invalid email address"),
        "JSON_PARSER_ERROR": _R(_DEAD, "value of the wrong type"),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION": _R(_DEAD, "validation rule failed"),
        "FIELD_INTEGRITY_EXCEPTION": _R(_DEAD, "field integrity"),
        "DUPLICATE_VALUE": _R(_DEAD, "unique field already has this value"),
        "DUPLICATE_EXTERNAL_ID": _R(_DEAD, "external id repeated or ambiguous"),
        "MISSING_ARGUMENT": _R(_DEAD, "external id missing"),
        "ENTITY_IS_DELETED": _R(_DEAD, "record is deleted"),
        "NOT_FOUND": _R(_DEAD, "record not found"),
        "INVALID_TYPE": _R(_FATAL, "unknown sObject type"),
        # our own bugs: stop rather than dead-letter everything
        "MALFORMED_QUERY": _R(_FATAL, "SOQL the API rejects"),
        "INVALID_QUERY_LOCATOR": _R(_FATAL, "query locator expired"),
        "EXCEEDED_ID_LIMIT": _R(_FATAL, "more than 200 records in one call"),
        "METHOD_NOT_ALLOWED": _R(_FATAL, "wrong HTTP method"),
    },
    by_status={
        300: _R(_DEAD, "external id matches several records"),
        401: _R(Action.REFRESH_TOKEN, "unauthorised"),
        403: _R(_FATAL, "forbidden"),
        404: _R(_DEAD, "not found"),
        429: _R(Action.RATE_LIMITED, "throttled"),
    },
)


def classify(
    status: int,
    code: str | None,
    message: str = "",
    fields: tuple[str, ...] = (),
    *,
    retry_after: float | None = None,
    duplicates_are_success: bool = False,
) -> ConnectorError:
    """The classified error; DUPLICATE_VALUE is idempotent success where the caller says so
    (e.g. a create keyed by a unique id that an earlier, unacknowledged attempt already made)."""
    if duplicates_are_success and code == "DUPLICATE_VALUE":
        # Another type, built once: the table's DEAD_LETTER row is never rewritten.
        return AlreadyDone(
            message or "already created", system=SYSTEM, status=status, code=code, fields=fields
        )
    return SALESFORCE_ERRORS.error(status, code, message, retry_after=retry_after, fields=fields)


def error_from_response(
    response: httpx.Response, *, duplicates_are_success: bool = False
) -> ConnectorError | None:
    """None for a 2xx, else the classified error from whatever shape the body has."""
    if response.status_code < 300:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    code: str | None = None
    message = response.reason_phrase or ""
    fields: tuple[str, ...] = ()
    if response.status_code == 300 and isinstance(body, list):
        message = "external id matches several records: " + ", ".join(map(str, body))
    elif isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        code = first.get("errorCode")
        message = first.get("message", message)
        fields = tuple(first.get("fields") or ())
    elif isinstance(body, dict) and "error" in body:
        code = str(body["error"]).upper()
        message = body.get("error_description", message)
    return classify(
        response.status_code,
        code,
        message,
        fields,
        retry_after=retry_after,
        duplicates_are_success=duplicates_are_success,
    )


def record_error(
    result: RecordResult, *, status: int = 400, duplicates_are_success: bool = False
) -> ConnectorError | None:
    """The classified error of one collection result (its first error), None on success."""
    if result.success or not result.errors:
        return None
    first = result.errors[0]
    return classify(
        status,
        first.statusCode,
        first.message,
        tuple(first.fields),
        duplicates_are_success=duplicates_are_success,
    )
