"""Every connector's error is the type its table row names, built once and never changed."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import grpc
import httpx
import pytest
from grpc import aio

from connectors.base.errors import (
    ERROR_TYPES,
    AlreadyDone,
    ConfigurationError,
    ConnectorError,
    ErrorTable,
    RecordError,
    Retriable,
)
from connectors.base.retry import RetryPolicy
from connectors.paytrace.errors import ERROR_TABLE as PAYTRACE
from connectors.paytrace.transport import PayTraceTransport
from connectors.sagepro.errors import ERROR_TABLE as SAGEPRO
from connectors.sagepro.errors import SageProError, classify_response
from connectors.salesforce.errors import SALESFORCE_ERRORS, classify
from connectors.salesforce.pubsub.errors import PubSubError, error_from_rpc

TABLES = {"paytrace": PAYTRACE, "salesforce": SALESFORCE_ERRORS, "sagepro": SAGEPRO}


def _rows(table: ErrorTable) -> list[tuple[int, str | None]]:
    rows: list[tuple[int, str | None]] = [(400, code) for code in table.by_code]
    rows += [(status, None) for status in table.by_status]
    rows += list(table.by_status_and_code)
    return [*rows, (400, None), (503, None)]


@pytest.mark.parametrize("system", sorted(TABLES))
def test_each_row_builds_the_type_its_action_names(system: str) -> None:
    table = TABLES[system]
    for status, code in _rows(table):
        rule = table.rule(status, code)
        error = table.error(status, code, "message")
        assert type(error) is ERROR_TYPES[rule.action], (status, code)
        assert error.action is rule.action
        assert error.retriable == isinstance(error, Retriable)


def test_sagepro_errors_keep_the_body_and_the_type() -> None:
    for code, rule in SAGEPRO.by_code.items():
        response = httpx.Response(409, json={"error": {"code": code}, "existing": {"a": 1}})
        error = classify_response(response)
        assert isinstance(error, SageProError) and isinstance(error, ERROR_TYPES[rule.action])
        assert error.action is rule.action and error.existing == {"a": 1}


def test_duplicates_are_success_is_another_type_not_a_changed_row() -> None:
    plain = classify(400, "DUPLICATE_VALUE", "dup")
    done = classify(400, "DUPLICATE_VALUE", "dup", duplicates_are_success=True)
    assert isinstance(plain, RecordError) and not isinstance(plain, AlreadyDone)
    assert isinstance(done, AlreadyDone) and done is not plain
    assert SALESFORCE_ERRORS.rule(400, "DUPLICATE_VALUE").action.value == "dead_letter"


def test_pubsub_statuses_build_typed_errors() -> None:
    for status in grpc.StatusCode:
        exc = aio.AioRpcError(status, aio.Metadata(), aio.Metadata(), "x")
        error = error_from_rpc(exc)
        assert isinstance(error, PubSubError)
        assert isinstance(error, ERROR_TYPES[error.action]), status


def test_a_refused_login_is_a_configuration_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_token"})

    async def run() -> None:
        client = PayTraceTransport(
            "http://pt",
            "u",
            "p",
            retry=RetryPolicy(attempts=1),
            transport=httpx.MockTransport(handle),
        )
        async with client:
            await client.request("POST", "/v1/x", json={})

    with pytest.raises(ConfigurationError) as caught:
        asyncio.run(run())
    assert not caught.value.retriable and caught.value.code == "invalid_token"


def test_no_connector_assigns_an_error_action() -> None:
    root = Path(__file__).parents[2] / "connectors"
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "action":
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
            if isinstance(node, ast.keyword) and node.arg == "action":
                offenders.append(f"{path.relative_to(root)}: action= keyword")
    assert not offenders


def test_every_action_has_a_type() -> None:
    for action, cls in ERROR_TYPES.items():
        assert issubclass(cls, ConnectorError) and cls.action is action
