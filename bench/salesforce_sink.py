"""``salesforce_sink``: sObject Collection upserts (200 per call) against one upsert per record.

Both sides talk to the Salesforce emulator over real HTTP on loopback, started in-process.
Records are the canonical payments mapped by ``stream.to_salesforce.payment_record`` with the
default mapping, as ``agents/salesforce_sink`` sends them. Every timed run writes records the
org has not seen (inserts), so the sides do the same database work. API calls are read from
the emulator's own counter (``GET /_emulator/usage``), which counts what Salesforce would bill
against the daily request limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
from pydantic import SecretStr

from bench.records import payments
from bench.result import BenchResult, Metric, Sample, rate_metric, timed
from connectors.base.emulator import EmulatorServer
from connectors.salesforce.client import COLLECTION_LIMIT, SalesforceClient
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.settings import SalesforceSettings
from stream.mapping import Mapping, load_mapping
from stream.to_salesforce import payment_record

NAME = "salesforce_sink"
DEFAULT_RECORDS = 2_000
CALLS = "api_calls"


async def api_used(control: httpx.AsyncClient) -> int:
    response = await control.get("/_emulator/usage")
    response.raise_for_status()
    return int(response.json()["used"])


def sf_records(count: int, mapping: Mapping, first_index: int) -> list[dict[str, Any]]:
    return [payment_record(p, mapping) for p in payments(count, mapping, first_index)]


async def by_collection(
    client: SalesforceClient, mapping: Mapping, records: list[dict[str, Any]]
) -> None:
    sf = mapping.salesforce
    for start in range(0, len(records), COLLECTION_LIMIT):
        results = await client.upsert_collection(
            sf.object, sf.external_id_field, records[start : start + COLLECTION_LIMIT]
        )
        failed = [r for r in results if not r.success]
        if failed:
            raise RuntimeError(f"collection upsert refused {len(failed)} records: {failed[0]}")


async def one_by_one(
    client: SalesforceClient, mapping: Mapping, records: list[dict[str, Any]]
) -> None:
    sf = mapping.salesforce
    for record in records:
        await client.upsert(sf.object, sf.external_id_field, record[sf.external_id_field], record)


async def _measure(
    send: Callable[[], Awaitable[None]], control: httpx.AsyncClient, sample: Sample
) -> None:
    before = await api_used(control)
    with timed(sample):
        await send()
    sample.extra[CALLS] = sample.extra.get(CALLS, 0) + await api_used(control) - before


async def one_run(
    client: SalesforceClient, control: httpx.AsyncClient, mapping: Mapping, records: int, rep: int
) -> tuple[Sample, Sample]:
    """(subject, baseline), taking turns per 200 records so load changes hit both alike.
    Each side writes its own new records (fresh transaction ids every run): inserts only."""
    batch = sf_records(records, mapping, first_index=2 * rep * records)
    single = sf_records(records, mapping, first_index=(2 * rep + 1) * records)
    subject, baseline = Sample(records), Sample(records)
    for turn, start in enumerate(range(0, records, COLLECTION_LIMIT)):
        part = slice(start, start + COLLECTION_LIMIT)
        turns = [
            (partial(by_collection, client, mapping, batch[part]), subject),
            (partial(one_by_one, client, mapping, single[part]), baseline),
        ]
        for send, sample in turns[:: -1 if (turn + rep) % 2 else 1]:
            await _measure(send, control, sample)
    return subject, baseline


def _calls_per_thousand(samples: list[Sample]) -> list[float]:
    return [s.extra[CALLS] * 1000 / s.records for s in samples]


async def run_salesforce_sink(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    mapping = load_mapping()
    # Enough daily limit for every run: the per-record side spends one call per record.
    config = EmulatorConfig(api_limit=max(100_000, 4 * records * repeats))
    subject: list[Sample] = []
    baseline: list[Sample] = []
    async with EmulatorServer(create_app(config)) as server:
        settings = SalesforceSettings(
            login_url=server.base_url,
            client_id=config.client_id,
            client_secret=SecretStr(config.client_secret),
        )
        async with (
            SalesforceClient.from_settings(settings) as client,
            httpx.AsyncClient(base_url=server.base_url) as control,
        ):
            # Authenticate and warm both paths outside the timed runs.
            warm = sf_records(2, mapping, first_index=10_000_000)
            await by_collection(client, mapping, warm[:1])
            await one_by_one(client, mapping, warm[1:])
            for rep in range(repeats):
                subject_run, baseline_run = await one_run(client, control, mapping, records, rep)
                subject.append(subject_run)
                baseline.append(baseline_run)
    return BenchResult(
        name=NAME,
        subject=f"upsert_collection, {COLLECTION_LIMIT} records per call",
        baseline="one SalesforceClient.upsert per record",
        records=records,
        repeats=repeats,
        metrics=[
            rate_metric(subject, baseline),
            Metric.of_runs(
                "api_calls",
                "API calls/1k records",
                _calls_per_thousand(subject),
                _calls_per_thousand(baseline),
                higher_is_better=False,
            ),
        ],
    )
