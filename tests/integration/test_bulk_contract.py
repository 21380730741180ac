"""Bulk API 2.0 ingest against the Salesforce emulator over HTTP (in-process): the client of
connectors/salesforce/bulk.py and the emulated job lifecycle, failed and unprocessed rows, the
daily record allocation and what each costs in API calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench.salesforce_sink import sf_records
from connectors.base.emulator import EmulatorServer
from connectors.base.errors import ConnectorError
from connectors.salesforce.bulk import BulkIngest
from connectors.salesforce.bulk_csv import SF_CREATED, SF_ERROR, build_csv
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.bulk import BULK
from connectors.salesforce.emulator.config import EmulatorConfig
from stream import sandbox
from stream.mapping import load_mapping

pytestmark = pytest.mark.integration
NO_SUCH_OPPORTUNITY = "006000000000001"


@pytest.fixture
async def org() -> AsyncIterator[tuple[EmulatorServer, SalesforceClient, httpx.AsyncClient]]:
    async with EmulatorServer(create_app(EmulatorConfig()), port=0) as server:
        settings = sandbox.salesforce_settings(server.base_url)
        async with (
            SalesforceClient.from_settings(settings) as client,
            httpx.AsyncClient(base_url=server.base_url) as control,
        ):
            yield server, client, control


def payments(count: int, first: int = 0) -> list[dict[str, Any]]:
    return sf_records(count, load_mapping(None), first)


async def used(control: httpx.AsyncClient) -> int:
    return int((await control.get("/_emulator/usage")).json()["used"])


async def test_an_upsert_job_reports_failed_rows_with_their_error_in_a_few_calls(
    org: tuple[EmulatorServer, SalesforceClient, httpx.AsyncClient],
) -> None:
    _, client, control = org
    records = payments(450)
    for record in records[10:13]:
        record["Opportunity__c"] = NO_SUCH_OPPORTUNITY
    outcome = await BulkIngest(client).upsert("Payment__c", "PaymentID__c", records)
    assert outcome.states == ["JobComplete"] and outcome.processed == 450
    assert sorted(r["PaymentID__c"] for r in outcome.failed) == sorted(
        r["PaymentID__c"] for r in records[10:13]
    )
    assert all(r[SF_ERROR].startswith("INVALID_CROSS_REFERENCE_KEY:") for r in outcome.failed)
    # create, upload, close, failed and unprocessed results, and the polls (one or two here).
    assert outcome.unprocessed == [] and outcome.calls == await used(control)
    assert 6 <= outcome.calls <= 7
    stored = (await control.get("/_emulator/records/Payment__c")).json()["records"]
    assert len(stored) == 447

    # Again, with the successful rows: nothing is created twice (upsert by external id).
    again = await BulkIngest(client, fetch_successful=True).upsert(
        "Payment__c", "PaymentID__c", records
    )
    assert len(again.successful) == 447 and again.created == 0
    assert {r[SF_CREATED] for r in again.successful} == {"false"}
    assert len((await control.get("/_emulator/records/Payment__c")).json()["records"]) == 447


async def test_past_the_daily_allocation_the_rest_is_unprocessed_and_the_job_failed(
    org: tuple[EmulatorServer, SalesforceClient, httpx.AsyncClient],
) -> None:
    server, client, _ = org
    server.app[BULK].daily.limit = 250
    outcome = await BulkIngest(client).upsert("Payment__c", "PaymentID__c", payments(400))
    assert outcome.states == ["Failed"] and outcome.processed == 250
    assert len(outcome.unprocessed) == 150 and outcome.failed == []
    job = await BulkIngest(client).info(outcome.job_ids[0])
    assert "24-hour" in job["errorMessage"]


async def test_an_aborted_job_writes_nothing_and_a_closed_job_takes_no_upload(
    org: tuple[EmulatorServer, SalesforceClient, httpx.AsyncClient],
) -> None:
    _, client, control = org
    bulk = BulkIngest(client)
    data = build_csv(payments(5))
    job_id = await bulk.create_job("Payment__c", "PaymentID__c")
    await bulk.upload(job_id, data)
    with pytest.raises(ConnectorError):
        await bulk.upload(job_id, data)  # one upload a job
    assert (await bulk.set_state(job_id, "Aborted"))["state"] == "Aborted"
    assert len(await bulk.results(job_id, "unprocessedrecords")) == 5
    with pytest.raises(ConnectorError):
        await bulk.set_state(job_id, "UploadComplete")
    assert (await control.get("/_emulator/records/Payment__c")).json()["records"] == []
