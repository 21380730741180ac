"""``backfill_bulk``: Salesforce API calls to upsert a backfill's payments, a Bulk API 2.0
ingest job (connectors/salesforce/bulk.py, as ``paystream backfill`` runs it) against sObject
Collections of 200 (the payment sink), in the same run.

Both sides write the same number of new ``Payment__c`` records to one Salesforce emulator over
HTTP; calls are the emulator's own count (``GET /_emulator/usage``: every REST call counts,
as against the org's daily limit). The goal is at most 10 calls per 100,000 payments.
"""

from __future__ import annotations

import httpx

from bench.result import BenchResult, Metric, Sample, timed
from bench.salesforce_sink import api_used, by_collection, sf_records
from connectors.base.emulator import EmulatorServer
from connectors.salesforce.bulk import BulkIngest
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig
from stream import sandbox
from stream.mapping import load_mapping

NAME = "backfill_bulk"
DEFAULT_RECORDS = 100_000


async def run_backfill_bulk(records: int, repeats: int) -> BenchResult:
    mapping = load_mapping(None)
    sf = mapping.salesforce
    bulk_calls: list[float] = []
    collection_calls: list[float] = []
    bulk_seconds: list[float] = []
    collection_seconds: list[float] = []
    config = EmulatorConfig(api_limit=10_000_000)
    async with EmulatorServer(create_app(config), port=0) as server:
        settings = sandbox.salesforce_settings(server.base_url)
        async with (
            httpx.AsyncClient(base_url=server.base_url, timeout=60) as control,
            SalesforceClient.from_settings(settings) as client,
        ):
            for run in range(repeats):
                # Sides alternate which goes first; each writes records the org has not seen.
                order = ("bulk", "collections") if run % 2 == 0 else ("collections", "bulk")
                for side in order:
                    first = (2 * run + (side == "bulk")) * records
                    batch = sf_records(records, mapping, first)
                    sample = Sample(records)
                    before = await api_used(control)
                    with timed(sample):
                        if side == "bulk":
                            outcome = await BulkIngest(client).upsert(
                                sf.object, sf.external_id_field, batch
                            )
                            if outcome.failed or outcome.unprocessed:
                                raise RuntimeError(f"bulk job refused rows: {outcome.failed[:1]}")
                        else:
                            await by_collection(client, mapping, batch)
                    calls = (await api_used(control) - before) * 100_000 / records
                    (bulk_calls if side == "bulk" else collection_calls).append(calls)
                    seconds = bulk_seconds if side == "bulk" else collection_seconds
                    seconds.append(sample.seconds)
    return BenchResult(
        name=NAME,
        subject="Bulk API 2.0 ingest job (create, upload, close, polls, failed, unprocessed)",
        baseline="sObject Collections upserts, 200 a call (the payment sink)",
        records=records,
        repeats=repeats,
        metrics=[
            Metric.of_runs(
                "api_calls_per_100k",
                "calls",
                bulk_calls,
                collection_calls,
                higher_is_better=False,
            ),
            Metric.of_runs(
                "seconds", "s", bulk_seconds, collection_seconds, higher_is_better=False
            ),
        ],
    )
