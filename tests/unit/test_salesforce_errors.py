import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base.errors import Action
from connectors.salesforce.errors import (
    SALESFORCE_ERRORS,
    classify,
    error_from_response,
    record_error,
)
from connectors.salesforce.models import (
    ApiError,
    QueryResult,
    RecordResult,
    TokenResponse,
    UpsertResult,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "salesforce"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("INVALID_SESSION_ID", Action.REFRESH_TOKEN),
        ("REQUEST_LIMIT_EXCEEDED", Action.RATE_LIMITED),
        ("UNABLE_TO_LOCK_ROW", Action.RETRY),
        ("SERVER_UNAVAILABLE", Action.RETRY),
        ("REQUIRED_FIELD_MISSING", Action.DEAD_LETTER),
        ("INVALID_CROSS_REFERENCE_KEY", Action.DEAD_LETTER),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", Action.DEAD_LETTER),
        ("INVALID_FIELD", Action.DEAD_LETTER),
        ("STRING_TOO_LONG", Action.DEAD_LETTER),
        ("DUPLICATE_VALUE", Action.DEAD_LETTER),
        ("INSUFFICIENT_ACCESS", Action.FATAL),
        ("INVALID_CLIENT", Action.FATAL),
        ("MALFORMED_QUERY", Action.FATAL),
    ],
)
def test_table_actions(code: str, action: Action) -> None:
    rule = SALESFORCE_ERRORS.rule(400, code)
    assert rule.action is action
    assert rule.reason  # every rule says why


def test_unknown_codes_fall_back_on_status() -> None:
    assert SALESFORCE_ERRORS.rule(500, "SOMETHING_NEW").action is Action.RETRY
    assert SALESFORCE_ERRORS.rule(503).action is Action.RETRY
    assert SALESFORCE_ERRORS.rule(300).action is Action.DEAD_LETTER
    assert SALESFORCE_ERRORS.rule(400, "SOMETHING_NEW").action is Action.DEAD_LETTER


def test_duplicate_value_is_idempotent_when_the_caller_says_so() -> None:
    assert classify(400, "DUPLICATE_VALUE").action is Action.DEAD_LETTER
    assert (
        classify(400, "DUPLICATE_VALUE", duplicates_are_success=True).action
        is Action.IDEMPOTENT_SUCCESS
    )


def test_documented_error_body_classifies_with_fields() -> None:
    body = load("error_body.json")
    assert [ApiError.model_validate(item).errorCode for item in body] == ["INVALID_EMAIL_ADDRESS"]
    error = error_from_response(httpx.Response(400, json=body))
    assert error is not None
    assert error.action is Action.DEAD_LETTER
    assert error.code == "INVALID_EMAIL_ADDRESS" and error.fields == ("Email",)
    assert error.reason == "salesforce:INVALID_EMAIL_ADDRESS"


def test_oauth_error_body_and_retry_after() -> None:
    error = error_from_response(
        httpx.Response(
            400, json={"error": "invalid_client", "error_description": "invalid client credentials"}
        )
    )
    assert error is not None and error.action is Action.FATAL and error.code == "INVALID_CLIENT"
    limited = error_from_response(
        httpx.Response(
            403,
            headers={"Retry-After": "7"},
            json=[
                {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
            ],
        )
    )
    assert (
        limited is not None and limited.action is Action.RATE_LIMITED and limited.retry_after == 7
    )
    assert error_from_response(httpx.Response(204)) is None


def test_multiple_choices_is_dead_letter_naming_the_records() -> None:
    error = error_from_response(
        httpx.Response(300, json=["/services/data/v62.0/sobjects/Account/001A", "/x/001B"])
    )
    assert error is not None and error.action is Action.DEAD_LETTER and error.status == 300
    assert "001A" in error.message


def test_documented_collection_results_parse_and_classify() -> None:
    results = [RecordResult.model_validate(item) for item in load("collection_upsert.json")]
    assert results[0].success and results[0].created is False
    assert record_error(results[0]) is None
    failed = record_error(results[1])
    assert (
        failed is not None and failed.code == "MALFORMED_ID" and failed.action is Action.DEAD_LETTER
    )


def test_documented_bodies_parse() -> None:
    token = TokenResponse.model_validate(load("token_client_credentials.json"))
    assert token.token_type == "Bearer" and token.issued_at == "4564564565767"
    upsert = UpsertResult.model_validate(load("upsert_created.json"))
    assert upsert.created and upsert.id == "00190000001pPvHAAU"
    page = QueryResult.model_validate(load("query_page.json"))
    assert not page.done and page.nextRecordsUrl and page.records[0]["Name"] == "John Smith"
