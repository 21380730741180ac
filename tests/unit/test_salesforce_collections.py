"""sObject Collections by id on the emulator, as the REST API Developer Guide words them:
retrieve (``GET composite/sobjects/{type}?ids&fields``), update (``PATCH composite/sobjects``)
and create (``POST composite/sobjects``); raw HTTP for the wire shapes, and SalesforceClient."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.base.emulator import EmulatorServer
from connectors.base.retry import RetryPolicy
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.collections import request_groups
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.errors import record_error
from connectors.salesforce.ids import make_id
from connectors.salesforce.settings import SalesforceSettings

V = "/services/data/v62.0"
FAST = RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.05, total_seconds=5)


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(create_app(EmulatorConfig(api_limit=5000))) as srv:
        yield srv


@pytest.fixture
async def sf(server: EmulatorServer) -> AsyncIterator[SalesforceClient]:
    secret = SecretStr("demo-secret")
    settings = SalesforceSettings(
        login_url=server.base_url, client_id="paystream-demo", client_secret=secret
    )
    async with SalesforceClient.from_settings(settings, retry=FAST) as client:
        yield client


@pytest.fixture
async def raw(server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        token = await http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "paystream-demo",
                "client_secret": "demo-secret",
            },
        )
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield http


async def accounts(sf: SalesforceClient, n: int) -> list[str]:
    return [await sf.create("Account", {"Name": f"Account {i}"}) for i in range(n)]


def used(response: httpx.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


async def test_retrieve_answers_one_element_per_id_in_order_and_null_for_the_unknown(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    first, second = await accounts(sf, 2)
    unknown, contact = make_id("001", 999), make_id("003", 1)
    ids = ",".join([second, "nonsense", first, unknown, contact])
    response = await raw.get(
        f"{V}/composite/sobjects/Account", params={"ids": ids, "fields": "id,Name"}
    )
    assert response.status_code == 200
    body = response.json()
    assert [r and r["Name"] for r in body] == ["Account 1", None, "Account 0", None, None]
    assert body[0] == {
        "attributes": {"type": "Account", "url": f"{V}/sobjects/Account/{second}"},
        "Id": second,
        "Name": "Account 1",
    }
    found = await sf.retrieve_collection("Account", [first, unknown], ["Id", "Name"])
    assert found == [{"Id": first, "Name": "Account 0"}, None]


async def test_retrieve_refuses_an_unknown_field_or_a_missing_parameter(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    (first,) = await accounts(sf, 1)
    path = f"{V}/composite/sobjects/Account"
    bad_field = await raw.get(path, params={"ids": first, "fields": "Name,Nope__c"})
    assert bad_field.status_code == 400
    assert bad_field.json() == [
        {
            "message": "No such column 'Nope__c' on sobject of type Account",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    for params in ({"ids": first}, {"fields": "Name"}):
        response = await raw.get(path, params=params)
        assert response.status_code == 400
        assert set(response.json()[0]) == {"message", "errorCode", "fields"}
    unknown_type = await raw.get(f"{V}/composite/sobjects/Nope__c", params={"ids": first})
    assert unknown_type.status_code == 404


async def test_update_is_per_record_and_counts_as_one_call(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    first, second = await accounts(sf, 2)
    opportunity = await sf.create(
        "Opportunity",
        {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2027-01-01", "AccountId": first},
    )
    before = used(await raw.get(f"{V}/limits"))
    body: dict[str, Any] = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "id": first, "Name": "Renamed"},
            {"attributes": {"type": "Opportunity"}, "id": opportunity, "Amount": 12.5},
            {"attributes": {"type": "Account"}, "id": "001xx000003DGb"},
            {"attributes": {"type": "Account"}, "Name": "no id"},
            {"attributes": {"type": "Account"}, "id": make_id("001", 999), "Name": "gone"},
            {"attributes": {"type": "Account"}, "id": opportunity, "Name": "wrong type"},
            {"id": second, "Name": "no type"},
        ],
    }
    response = await raw.patch(f"{V}/composite/sobjects", json=body)
    assert response.status_code == 200
    assert used(response) == before + 1  # one API call for the whole collection
    results = response.json()
    assert results[:2] == [
        {"id": first, "success": True, "errors": []},
        {"id": opportunity, "success": True, "errors": []},
    ]
    codes = [[e["statusCode"] for e in r["errors"]] for r in results[2:]]
    assert codes == [
        ["MALFORMED_ID"],
        ["MISSING_ARGUMENT"],
        ["ENTITY_IS_DELETED"],
        ["MALFORMED_ID"],
        ["INVALID_TYPE"],
    ]
    assert all("id" not in r and r["success"] is False for r in results[2:])
    assert (await sf.get("Account", first) or {})["Name"] == "Renamed"
    assert (await sf.get("Opportunity", opportunity) or {})["Amount"] == 12.5


async def test_all_or_none_rolls_every_record_back(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    (first,) = await accounts(sf, 1)
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "id": first, "Name": "Renamed"},
            {"attributes": {"type": "Account"}, "id": make_id("001", 999), "Name": "gone"},
        ],
    }
    results = (await raw.patch(f"{V}/composite/sobjects", json=body)).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert (await sf.get("Account", first) or {})["Name"] == "Account 0"


async def test_create_answers_the_new_ids_and_refuses_an_id(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    (first,) = await accounts(sf, 1)
    body = {
        "records": [
            {"attributes": {"type": "Task"}, "Subject": "one", "WhatId": first},
            {"attributes": {"type": "Case"}, "Subject": "two", "AccountId": first},
            {"attributes": {"type": "Task"}, "id": make_id("00T", 5), "Subject": "three"},
            {"attributes": {"type": "Account"}},
        ]
    }
    response = await raw.post(f"{V}/composite/sobjects", json=body)
    assert response.status_code == 200
    results = response.json()
    assert [r["success"] for r in results] == [True, True, False, False]
    assert results[0]["id"].startswith("00T") and results[1]["id"].startswith("500")
    assert results[2]["errors"] == [
        {
            "statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE",
            "message": "cannot specify Id in an insert call",
            "fields": ["Id"],
        }
    ]
    assert results[3]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    made = await sf.query("SELECT Subject FROM Task WHERE Subject IN ('one', 'three')")
    assert [r["Subject"] for r in made] == ["one"]


@pytest.mark.parametrize("method", ["PATCH", "POST"])
async def test_a_request_over_the_limits_is_refused_whole(
    raw: httpx.AsyncClient, method: str
) -> None:
    records = [{"attributes": {"type": "Task"}, "Subject": str(n)} for n in range(201)]
    response = await raw.request(method, f"{V}/composite/sobjects", json={"records": records})
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
            "fields": [],
        }
    ]
    # Eleven runs of one type: more than the 10 chunks one request may have.
    chunks = [{"attributes": {"type": ("Task", "Case")[n % 2]}, "Subject": "x"} for n in range(11)]
    response = await raw.request(method, f"{V}/composite/sobjects", json={"records": chunks})
    assert response.status_code == 400
    not_a_list = await raw.request(method, f"{V}/composite/sobjects", json={"records": {}})
    assert not_a_list.status_code == 400
    assert not_a_list.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_the_client_splits_by_the_limits_and_keeps_the_order(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    ids = await accounts(sf, 3)
    before = used(await raw.get(f"{V}/limits"))
    # 250 Tasks and Cases interleaved: grouped by type, 200 per request, results in order.
    rows = [(("Task", "Case")[n % 2], {"Subject": f"s{n}", "WhatId": ids[0]}) for n in range(250)]
    rows = [(t, f if t == "Task" else {"Subject": f["Subject"]}) for t, f in rows]
    made = await sf.create_collection(rows)
    assert [r.success for r in made] == [True] * 250
    assert [r.id[:3] for r in made if r.id] == [("00T", "500")[n % 2] for n in range(250)]
    after = used(await raw.get(f"{V}/limits"))
    assert after - before == 2 + 1  # two creates (201+ records), then this /limits call
    updated = await sf.update_collection(
        [("Account", ids[1], {"Name": "B"}), ("Account", make_id("001", 999), {"Name": "x"})]
    )
    assert updated[0].success and not updated[1].success
    error = record_error(updated[1])
    assert error is not None and error.code == "ENTITY_IS_DELETED" and not error.retriable
    found = await sf.retrieve_collection("Account", [*ids, make_id("001", 998)], ["Id", "Name"])
    assert [r and r["Name"] for r in found] == ["Account 0", "B", "Account 2", None]


def test_request_groups_keep_types_together_within_the_limits() -> None:
    types = ["Task", "Case", "Task", *(f"T{n}" for n in range(12))]
    groups = request_groups(types)
    assert sorted(i for g in groups for i in g) == list(range(len(types)))
    assert all(len({types[i] for i in g}) <= 10 for g in groups)
    for group in groups:  # one run (chunk) per type: a type never comes back in a request
        runs = [types[i] for n, i in enumerate(group) if n == 0 or types[i] != types[group[n - 1]]]
        assert len(runs) == len(set(runs))
    assert [i for g in groups for i in g if types[i] == "Task"] == [0, 2]  # their order kept
    assert [len(g) for g in request_groups(["Task"] * 401)] == [200, 200, 1]


async def test_soql_brings_a_parent_field_nested_under_its_relationship(
    sf: SalesforceClient, raw: httpx.AsyncClient
) -> None:
    account = await sf.create("Account", {"Name": "Parent", "CustomerVaultID__c": "V-1"})
    fields = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2027-01-01"}
    with_parent = await sf.create("Opportunity", {**fields, "AccountId": account})
    orphan = await sf.create("Opportunity", fields)
    soql = (
        "SELECT Id, account.customervaultid__c FROM Opportunity "
        f"WHERE Id IN ('{with_parent}', '{orphan}') ORDER BY Name"
    )
    response = await raw.get(f"{V}/query", params={"q": soql})
    assert response.status_code == 200
    rows = {r["Id"]: r for r in response.json()["records"]}
    assert rows[with_parent]["Account"] == {
        "attributes": {"type": "Account", "url": f"{V}/sobjects/Account/{account}"},
        "CustomerVaultID__c": "V-1",
    }
    assert rows[orphan]["Account"] is None
    bad = await raw.get(f"{V}/query", params={"q": "SELECT Owner__r.Name FROM Opportunity"})
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "Didn't understand relationship 'Owner__r'" in bad.json()[0]["message"]
