"""Contract tests: SalesforceClient and raw HTTP against the emulator over loopback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from connectors.base.emulator import EmulatorServer
from connectors.base.errors import Action, ConnectorError
from connectors.base.retry import RetryPolicy
from connectors.salesforce.client import SalesforceClient, jwt_assertion
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.errors import record_error
from connectors.salesforce.settings import SalesforceSettings
from stream import metrics

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "salesforce"
V = "/services/data/v62.0"
FAST = RetryPolicy(attempts=4, initial_seconds=0.01, max_seconds=0.05, total_seconds=5)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


KEYS = _rsa_pair()


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    config = EmulatorConfig(jwt_public_key=KEYS[1], api_limit=5000)
    async with EmulatorServer(create_app(config)) as srv:
        yield srv


def settings_for(srv: EmulatorServer, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "login_url": srv.base_url,
        "client_id": "paystream-demo",
        "client_secret": SecretStr("demo-secret"),
        **overrides,
    }
    return SalesforceSettings(**values)


@pytest.fixture
async def sf(server: EmulatorServer) -> AsyncIterator[SalesforceClient]:
    async with SalesforceClient.from_settings(settings_for(server), retry=FAST) as client:
        yield client


@pytest.fixture
async def raw(server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client holding a valid token, for checking bodies as sent on the wire."""
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        token = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "paystream-demo",
                "client_secret": "demo-secret",
            },
        )
        client.headers["Authorization"] = "Bearer " + token.json()["access_token"]
        yield client


async def _account(sf: SalesforceClient, name: str = "Acme", **extra: Any) -> str:
    return await sf.create("Account", {"Name": name, **extra})


# -- OAuth ------------------------------------------------------------------------------------


async def test_token_response_has_the_documented_keys(server: EmulatorServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ok = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "paystream-demo",
                "client_secret": "demo-secret",
            },
        )
        assert ok.status_code == 200
        body = ok.json()
        assert set(body) == set(fixture("token_client_credentials.json"))
        assert body["instance_url"] == server.base_url and body["token_type"] == "Bearer"
        bad_secret = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "paystream-demo",
                "client_secret": "x",
            },
        )
        assert bad_secret.status_code == 400
        assert bad_secret.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }
        bad_id = await http.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "who", "client_secret": "x"},
        )
        assert bad_id.status_code == 400 and bad_id.json()["error"] == "invalid_client_id"
        grant = await http.post("/services/oauth2/token", data={"grant_type": "password"})
        assert grant.json()["error"] == "unsupported_grant_type"


async def test_bad_client_secret_is_fatal(server: EmulatorServer) -> None:
    settings = settings_for(server, client_secret=SecretStr("wrong"))
    async with SalesforceClient(settings, retry=FAST) as client:
        with pytest.raises(ConnectorError) as caught:
            await client.count("SELECT COUNT() FROM Account")
    assert caught.value.action is Action.FATAL and caught.value.code == "INVALID_CLIENT"
    assert "wrong" not in str(caught.value)


async def test_jwt_bearer_flow_with_generated_key(server: EmulatorServer) -> None:
    settings = settings_for(
        server,
        auth_flow="jwt_bearer",
        client_secret=None,
        username="integration@paystream.example",
        private_key=SecretStr(KEYS[0]),
    )
    async with SalesforceClient(settings, retry=FAST) as client:
        account_id = await client.create("Account", {"Name": "Via JWT"})
        assert (await client.get("Account", account_id) or {})["Name"] == "Via JWT"

    other_key = _rsa_pair()[0]
    forged = settings.model_copy(update={"private_key": SecretStr(other_key)})
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
        refused = await http.post(
            "/services/oauth2/token", data={"grant_type": grant, "assertion": jwt_assertion(forged)}
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "error": "invalid_grant",
            "error_description": "invalid assertion",
        }
        stale = await http.post(
            "/services/oauth2/token",
            data={"grant_type": grant, "assertion": jwt_assertion(settings, now=1_000_000)},
        )
        assert stale.json()["error"] == "invalid_grant"
    async with SalesforceClient(forged, retry=FAST) as client:
        with pytest.raises(ConnectorError) as caught:
            await client.count("SELECT COUNT() FROM Account")
        assert caught.value.action is Action.FATAL and caught.value.code == "INVALID_GRANT"


async def test_expired_token_is_refreshed_once(
    server: EmulatorServer, sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await _account(sf)
    first_token = sf._auth_headers
    expired = await raw.post("/_emulator/expire_tokens")
    assert expired.json()["expired"] >= 1
    stale = await raw.get(f"{V}/query", params={"q": "SELECT Id FROM Account"})
    assert stale.status_code == 401
    assert stale.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert await sf.count("SELECT COUNT() FROM Account") == 1
    assert sf._auth_headers != first_token


# -- limits and faults ------------------------------------------------------------------------


async def test_limit_info_header_feeds_usage_and_gauges(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await _account(sf)
    before = (await raw.get("/_emulator/usage")).json()
    response = await raw.get(f"{V}/limits")
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={before['used'] + 1}/5000"
    await sf.count("SELECT COUNT() FROM Account")
    assert sf.api_usage is not None and sf.api_usage.limit == 5000
    assert sf.api_usage.used == before["used"] + 2
    assert metrics.SALESFORCE_API_USED._value.get() == sf.api_usage.used
    assert metrics.SALESFORCE_API_LIMIT._value.get() == 5000
    # The emulator-only record dump does not count as API usage.
    await raw.get("/_emulator/records/Account")
    assert (await raw.get("/_emulator/usage")).json()["used"] == sf.api_usage.used


async def test_request_limit_exceeded_is_rate_limited(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await raw.post("/_emulator/usage", json={"used": 5000})
    refused = await raw.get(f"{V}/limits")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=5000/5000"
    throttled = metrics.EXTERNAL_THROTTLED.labels("salesforce")._value.get()
    with pytest.raises(ConnectorError) as caught:
        await sf.count("SELECT COUNT() FROM Account")
    assert caught.value.action is Action.RATE_LIMITED
    assert metrics.EXTERNAL_THROTTLED.labels("salesforce")._value.get() > throttled


async def test_every_call_counts_but_versions_and_the_day_can_start_again(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await raw.post("/_emulator/usage", json={"used": 4998})
    versions = await raw.get("/services/data/")
    assert versions.status_code == 200 and "Sforce-Limit-Info" not in versions.headers
    await sf.refresh_api_usage()  # GET /limits: one call, like any other
    assert sf.api_usage is not None and sf.api_usage.used == 4999
    assert (await raw.get(f"{V}/limits")).json()["DailyApiRequests"]["Remaining"] == 0
    with pytest.raises(ConnectorError) as caught:  # the 4,999th was the last of the day
        await sf.refresh_api_usage()
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert sf.api_usage.used == 5000  # read from the refusal's header all the same
    assert (await raw.get("/_emulator/usage")).json() == {"used": 5000, "limit": 5000}
    await raw.post("/_emulator/usage", json={"used": 0})  # a new day
    await sf.refresh_api_usage()
    assert sf.api_usage.used == 1 and sf.api_usage_at is not None


async def test_server_errors_are_salesforce_shaped_and_retried(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await raw.post("/_emulator/faults", json={"error_status": 503, "error_count": 1})
    down = await raw.get(f"{V}/limits")
    assert down.status_code == 503 and down.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    await raw.post("/_emulator/faults", json={"error_status": 500, "error_count": 1})
    broken = await raw.get(f"{V}/limits")
    assert broken.status_code == 500 and broken.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    await raw.post(
        "/_emulator/faults", json={"error_status": 503, "error_count": 2, "error_path_prefix": V}
    )
    account_id = await _account(sf, "After outage")
    assert account_id.startswith("001")
    await raw.post("/_emulator/faults", json={"error_status": 503, "error_count": 10})
    with pytest.raises(ConnectorError) as caught:
        await sf.count("SELECT COUNT() FROM Account")
    assert caught.value.action is Action.RETRY and caught.value.code == "SERVER_UNAVAILABLE"


async def test_unable_to_lock_row_is_retried(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    account_id = await _account(sf)
    await raw.post("/_emulator/lock_rows", json={"count": 1})
    locked = await raw.patch(f"{V}/sobjects/Account/{account_id}", json={"Phone": "1"})
    assert locked.status_code == 400 and locked.json()[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    await raw.post("/_emulator/faults", json={"unable_to_lock_row": 2})
    await sf.update("Account", account_id, {"Phone": "555"})
    assert (await sf.get("Account", account_id, ["Phone"]) or {})["Phone"] == "555"


# -- sObject rows -----------------------------------------------------------------------------


async def test_crud_round_trip(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    account_id = await _account(sf, "Crud Co", CustomerVaultID__c="V1")
    created = await raw.post(
        f"{V}/sobjects/Contact", json={"LastName": "Smith", "AccountId": account_id}
    )
    assert created.status_code == 201 and set(created.json()) == {"id", "success", "errors"}
    assert created.json()["id"].startswith("003")
    record = (await raw.get(f"{V}/sobjects/Account/{account_id}")).json()
    assert record["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{account_id}"}
    assert record["Id"] == account_id and record["CreatedDate"].endswith("+0000")
    await sf.update("Account", account_id, {"Name": "Crud Co 2"})
    assert (await sf.get("Account", account_id) or {})["Name"] == "Crud Co 2"
    await sf.delete("Account", account_id)
    assert await sf.get("Account", account_id) is None
    again = await raw.delete(f"{V}/sobjects/Account/{account_id}")
    assert again.status_code == 404 and again.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    missing = await raw.get(f"{V}/sobjects/Account/001000000000000AAA")
    assert missing.status_code == 404
    assert missing.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND", "fields": []}
    ]


async def test_key_prefixes(sf: SalesforceClient) -> None:
    account_id = await _account(sf)
    opp = await sf.create(
        "Opportunity",
        {
            "Name": "Deal",
            "StageName": "Prospecting",
            "CloseDate": "2025-01-31",
            "AccountId": account_id,
        },
    )
    order = await sf.create(
        "Order", {"AccountId": account_id, "EffectiveDate": "2025-01-01", "Status": "Draft"}
    )
    case = await sf.create("Case", {"Subject": "Card declined", "AccountId": account_id})
    task = await sf.create("Task", {"Subject": "Call", "WhatId": opp})
    payment = await sf.upsert(
        "Payment__c", "PaymentID__c", "T-1", {"Status__c": "Completed", "Order__c": order}
    )
    assert [opp[:3], order[:3], case[:3], task[:3], (payment.id or "")[:3]] == [
        "006",
        "801",
        "500",
        "00T",
        "a0P",
    ]
    case_record = await sf.get("Case", case) or {}
    assert case_record["Status"] == "New" and case_record["CaseNumber"] == "00000001"


async def test_validation_errors_dead_letter(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    cases: list[tuple[str, dict[str, Any], str, list[str]]] = [
        ("Account", {}, "REQUIRED_FIELD_MISSING", ["Name"]),
        (
            "Payment__c",
            {"Status__c": "Completed", "Account__c": "001000000000000AAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["Account__c"],
        ),
        (
            "Payment__c",
            {"Status__c": "Approved"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["Status__c"],
        ),
        ("Payment__c", {"Status__c": "Completed", "Bogus__c": 1}, "INVALID_FIELD", []),
        (
            "Payment__c",
            {"Status__c": "Completed", "Last4Digits__c": "123456"},
            "STRING_TOO_LONG",
            ["Last4Digits__c"],
        ),
    ]
    for sobject, body, code, fields in cases:
        wire = await raw.post(f"{V}/sobjects/{sobject}", json=body)
        assert wire.status_code == 400
        assert set(wire.json()[0]) == set(fixture("error_body.json")[0])
        assert wire.json()[0]["errorCode"] == code and wire.json()[0]["fields"] == fields
        with pytest.raises(ConnectorError) as caught:
            await sf.create(sobject, body)
        assert caught.value.action is Action.DEAD_LETTER and caught.value.code == code


async def test_duplicate_value_dead_letters_or_is_idempotent(sf: SalesforceClient) -> None:
    first = await sf.create("Payment__c", {"PaymentID__c": "DUP-1", "Status__c": "Pending"})
    with pytest.raises(ConnectorError) as caught:
        await sf.create("Payment__c", {"PaymentID__c": "DUP-1", "Status__c": "Pending"})
    assert caught.value.code == "DUPLICATE_VALUE" and caught.value.action is Action.DEAD_LETTER
    again = await sf.create(
        "Payment__c", {"PaymentID__c": "DUP-1", "Status__c": "Pending"}, duplicates_are_success=True
    )
    assert again == first


# -- upsert -----------------------------------------------------------------------------------


async def test_upsert_created_then_updated(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    body = {
        "Status__c": "Authorized",
        "Amount__c": 42.5,
        "SalesRepID__c": "R-9",
        "Campaign_Source__c": "spring",
    }
    created = await raw.patch(f"{V}/sobjects/Payment__c/PaymentID__c/TX-100", json=body)
    assert created.status_code == 201
    assert set(created.json()) == set(fixture("upsert_created.json"))
    assert created.json()["created"] is True and created.json()["errors"] == []
    result = await sf.upsert("Payment__c", "PaymentID__c", "TX-100", {"Status__c": "Settled"})
    assert result.success and result.created is False and result.id == created.json()["id"]
    stored = await sf.get("Payment__c", created.json()["id"]) or {}
    assert (
        stored["Status__c"] == "Settled"
        and stored["SalesRepID__c"] == "R-9"
        and stored["Name"].startswith("PAY-")
    )
    slash = await sf.upsert("Payment__c", "PaymentID__c", "A/B 1", {"Status__c": "Pending"})
    assert (
        slash.created
        and (await sf.get("Payment__c", slash.id or "") or {})["PaymentID__c"] == "A/B 1"
    )


async def test_upsert_matching_several_records_answers_300(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    ids = [await _account(sf, f"Twin {i}", CustomerVaultID__c="VAULT-7") for i in range(2)]
    wire = await raw.patch(f"{V}/sobjects/Account/CustomerVaultID__c/VAULT-7", json={"Phone": "1"})
    assert wire.status_code == 300
    assert wire.json() == [f"{V}/sobjects/Account/{i}" for i in ids]
    with pytest.raises(ConnectorError) as caught:
        await sf.upsert("Account", "CustomerVaultID__c", "VAULT-7", {"Phone": "1"})
    assert caught.value.status == 300 and caught.value.action is Action.DEAD_LETTER
    not_ext = await raw.patch(f"{V}/sobjects/Account/Name/x", json={})
    assert not_ext.status_code == 404 and not_ext.json()[0]["errorCode"] == "NOT_FOUND"


# -- sObject Collections ----------------------------------------------------------------------


def _payment(ext: str, status: str = "Completed", **extra: Any) -> dict[str, Any]:
    return {"PaymentID__c": ext, "Status__c": status, **extra}


async def test_collection_mixes_good_and_bad_records(sf: SalesforceClient) -> None:
    await sf.upsert("Payment__c", "PaymentID__c", "C-2", {"Status__c": "Pending"})
    records = [
        _payment("C-1"),
        _payment("C-2", "Settled"),
        _payment("C-3", "Nonsense"),
        _payment("C-4", Account__c="001000000000000AAA"),
        _payment("C-5", Amount__c=10),
    ]
    results = await sf.upsert_collection("Payment__c", "PaymentID__c", records)
    assert [r.success for r in results] == [True, True, False, False, True]
    assert [r.created for r in results] == [True, False, False, False, True]
    actions = [(e.code, e.action) for r in results if (e := record_error(r))]
    assert actions == [
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", Action.DEAD_LETTER),
        ("INVALID_CROSS_REFERENCE_KEY", Action.DEAD_LETTER),
    ]
    assert set(results[2].errors[0].model_dump()) == {"statusCode", "message", "fields"}
    rows = await sf.query("SELECT PaymentID__c FROM Payment__c ORDER BY PaymentID__c")
    assert [r["PaymentID__c"] for r in rows] == ["C-1", "C-2", "C-5"]


async def test_collection_all_or_none_rolls_back(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    results = await sf.upsert_collection(
        "Payment__c", "PaymentID__c", [_payment("R-1"), _payment("R-2", "Bad")], all_or_none=True
    )
    assert [r.success for r in results] == [False, False]
    assert results[0].errors[0].statusCode == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1].errors[0].statusCode == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert (await raw.get("/_emulator/records/Payment__c")).json()["totalSize"] == 0


async def test_collection_retries_locked_records_and_keys_match_docs(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await raw.post("/_emulator/lock_rows", json={"count": 1})
    wire = await raw.patch(
        f"{V}/composite/sobjects/Payment__c/PaymentID__c",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Payment__c"}, **_payment("L-0")}],
        },
    )
    assert wire.status_code == 200
    documented_keys = set(fixture("collection_upsert.json")[0])
    assert set(wire.json()[0]) == documented_keys
    assert wire.json()[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    await raw.post("/_emulator/lock_rows", json={"count": 2})
    results = await sf.upsert_collection(
        "Payment__c", "PaymentID__c", [_payment(f"L-{i}") for i in range(1, 4)]
    )
    assert all(r.success for r in results)


async def test_collection_over_200_records(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    records = [{"attributes": {"type": "Payment__c"}, **_payment(f"B-{i}")} for i in range(201)]
    wire = await raw.patch(
        f"{V}/composite/sobjects/Payment__c/PaymentID__c", json={"records": records}
    )
    assert wire.status_code == 400 and wire.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    results = await sf.upsert_collection(
        "Payment__c", "PaymentID__c", [_payment(f"B-{i}") for i in range(250)]
    )
    assert len(results) == 250 and all(r.created for r in results)
    with pytest.raises(ValueError):
        await sf.upsert_collection(
            "Payment__c", "PaymentID__c", [_payment("x")] * 201, all_or_none=True
        )


# -- SOQL -------------------------------------------------------------------------------------


async def test_query_pages_of_2000_and_count(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    for start in range(0, 2300, 200):
        batch = [_payment(f"Q-{i:05d}", Amount__c=i) for i in range(start, min(start + 200, 2300))]
        await sf.upsert_collection("Payment__c", "PaymentID__c", batch)
    first = (
        await raw.get(f"{V}/query", params={"q": "SELECT Id, Amount__c FROM Payment__c"})
    ).json()
    assert set(first) == set(fixture("query_page.json"))
    assert first["totalSize"] == 2300 and first["done"] is False and len(first["records"]) == 2000
    assert set(first["records"][0]["attributes"]) == {"type", "url"}
    rows = await sf.query(
        "SELECT Id, Amount__c FROM Payment__c WHERE Amount__c >= 100 ORDER BY Amount__c DESC"
    )
    assert len(rows) == 2200 and rows[0]["Amount__c"] == 2299 and "attributes" not in rows[0]
    assert await sf.count("SELECT COUNT() FROM Payment__c WHERE PaymentID__c LIKE 'Q-000%'") == 100
    assert (
        await sf.count(
            "SELECT COUNT() FROM Payment__c WHERE PaymentID__c IN ('Q-00001', 'Q-00002', 'nope')"
        )
        == 2
    )
    limited = await sf.query(
        "SELECT PaymentID__c FROM Payment__c WHERE Amount__c != 5 AND Amount__c < 8 "
        "ORDER BY Amount__c LIMIT 3"
    )
    assert [r["PaymentID__c"] for r in limited] == ["Q-00000", "Q-00001", "Q-00002"]


async def test_bad_soql(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    malformed = await raw.get(f"{V}/query", params={"q": "SELECT Id FRM Account"})
    assert malformed.status_code == 400 and malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    unknown = await raw.get(f"{V}/query", params={"q": "SELECT Nope__c FROM Account"})
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(ConnectorError) as caught:
        await sf.query("SELECT Id FROM Account WHERE")
    assert caught.value.code == "MALFORMED_QUERY" and caught.value.action is Action.FATAL


# -- change events ----------------------------------------------------------------------------


async def test_change_events_for_tracked_objects(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    account_id = await _account(sf)
    opp = await sf.create(
        "Opportunity", {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2025-01-31"}
    )
    await sf.update("Opportunity", opp, {"StageName": "Closed Won"})
    await sf.upsert("Payment__c", "PaymentID__c", "CE-1", {"Status__c": "Completed"})  # untracked
    await sf.delete("Account", account_id)
    events = (await raw.get("/_emulator/change_events")).json()["events"]
    headers = [e["event"]["ChangeEventHeader"] for e in events]
    assert [(h["entityName"], h["changeType"]) for h in headers] == [
        ("Account", "CREATE"),
        ("Opportunity", "CREATE"),
        ("Opportunity", "UPDATE"),
        ("Account", "DELETE"),
    ]
    replay_ids = [e["replayId"] for e in events]
    assert replay_ids == sorted(replay_ids) and len(set(replay_ids)) == 4
    assert set(headers[2]) == set(fixture("change_event_header.json"))
    assert headers[2]["changedFields"] == ["StageName", "LastModifiedDate"]
    assert events[2]["event"]["StageName"] == "Closed Won"
    assert headers[0]["changeOrigin"] == "com/salesforce/api/rest/62.0;client=paystream"
    assert headers[3]["recordIds"] == [account_id]
    assert headers[1]["commitNumber"] < headers[2]["commitNumber"]
    await raw.post(f"/_emulator/undelete/Account/{account_id}")
    after = (await raw.get("/_emulator/change_events", params={"after": replay_ids[-1]})).json()[
        "events"
    ]
    assert [e["event"]["ChangeEventHeader"]["changeType"] for e in after] == ["UNDELETE"]


async def test_collection_is_one_transaction_of_events(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    await sf.upsert_collection("Payment__c", "PaymentID__c", [_payment("T-1")])  # untracked
    account_ids = [await _account(sf, f"A{i}") for i in range(2)]
    await sf.upsert_collection(
        "Account",
        "CustomerVaultID__c",
        [{"CustomerVaultID__c": f"V-{i}", "Name": f"N{i}"} for i in range(3)],
    )
    events = (await raw.get("/_emulator/change_events", params={"entity": "Account"})).json()[
        "events"
    ]
    assert len(events) == len(account_ids) + 3
    batch = [e["event"]["ChangeEventHeader"] for e in events[-3:]]
    assert len({h["transactionKey"] for h in batch}) == 1
    assert [h["sequenceNumber"] for h in batch] == [1, 2, 3]


# -- emulator controls and persistence --------------------------------------------------------


async def test_reset_and_records_control(sf: SalesforceClient, raw: httpx.AsyncClient) -> None:
    await _account(sf)
    dump = (await raw.get("/_emulator/records/Account")).json()
    assert dump["totalSize"] == 1 and dump["records"][0]["Name"] == "Acme"
    await raw.post("/_emulator/reset")
    assert (await raw.get("/_emulator/usage")).json() == {"used": 0, "limit": 5000}
    assert (await raw.get("/_emulator/records/Account")).json()["totalSize"] == 0
    assert await sf.count("SELECT COUNT() FROM Account") == 0  # token dropped by reset: refreshed


async def test_data_dir_survives_restart(tmp_path: Path) -> None:
    config = EmulatorConfig(data_dir=tmp_path, extra_fields={"Account": ["Region__c"]})
    async with EmulatorServer(create_app(config)) as srv:
        async with SalesforceClient(settings_for(srv), retry=FAST) as client:
            account_id = await client.create("Account", {"Name": "Kept", "Region__c": "West"})
    async with EmulatorServer(create_app(config)) as srv:
        async with SalesforceClient(settings_for(srv), retry=FAST) as client:
            assert (await client.get("Account", account_id) or {})["Region__c"] == "West"
    assert (tmp_path / "salesforce.sqlite3").exists()


# -- discovery: Versions, Describe Global, sObject Describe -----------------------------------


async def test_versions_need_no_token_and_list_label_and_url(server: EmulatorServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as anonymous:
        response = await anonymous.get("/services/data/")
    assert response.status_code == 200
    versions = response.json()
    assert {"version": "62.0", "label": "Winter '25", "url": "/services/data/v62.0"} in versions
    assert {"version": "31.0", "label": "Summer '14", "url": "/services/data/v31.0"} in versions
    assert all(set(v) == {"version", "label", "url"} for v in versions)


async def test_describe_global_lists_the_org_objects(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    body = (await raw.get(f"{V}/sobjects")).json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    payment = next(o for o in body["sobjects"] if o["name"] == "Payment__c")
    assert payment["custom"] is True and payment["queryable"] and payment["createable"]
    assert payment["urls"]["describe"] == f"{V}/sobjects/Payment__c/describe"
    assert payment["keyPrefix"] and payment["label"] == "Payment"
    described = await sf.describe_global()
    assert {"Account", "Opportunity", "Order", "Payment__c"} <= {o.name for o in described.sobjects}
    assert [v.version for v in await sf.versions()][-1] == "62.0"


async def test_sobject_describe_has_fields_picklists_and_lookups(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    response = await raw.get(f"{V}/sobjects/Payment__c/describe")
    assert response.status_code == 200
    body = response.json()
    fields = {f["name"]: f for f in body["fields"]}
    external = fields["PaymentID__c"]
    assert external["externalId"] and external["unique"] and external["idLookup"]
    assert external["type"] == "string" and external["length"] == 64
    status = fields["Status__c"]
    assert status["type"] == "picklist" and status["restrictedPicklist"]
    assert not status["nillable"]
    assert {"value": "Completed", "label": "Completed", "active": True} == {
        k: status["picklistValues"][0][k] for k in ("value", "label", "active")
    }
    account = fields["Account__c"]
    assert account["referenceTo"] == ["Account"] and account["relationshipName"] == "Account__r"
    name = fields["Name"]
    assert name["autoNumber"] and not name["createable"] and not name["updateable"]
    assert not fields["Id"]["createable"] and not fields["Id"]["nillable"]
    described = await sf.describe("payment__c")  # object names are case-insensitive
    assert described is not None and described.name == "Payment__c"
    salesrep = described.field("salesrepid__c")
    assert salesrep is not None and salesrep.createable and salesrep.updateable
    assert await sf.describe("Nope__c") is None
    missing = await raw.get(f"{V}/sobjects/Nope__c/describe")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
