"""Replay and dead-letter re-drive on the real broker, with a running worker and the emulators.

The replay runs while the worker runs, as in production: nothing is stopped or reset."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from schemas.deadletter import DeadLetter
from stream.mapping import DEFAULT_MAPPING
from stream.replay import redrive_dead_letters, replay_payments
from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_pipeline_e2e import (
    VISA,
    delivered,
    make_transactions,
    sagepro_references,
    salesforce_matches,
)

pytestmark = pytest.mark.integration
REPLAY_ID = "paystream-replay-id"

SAGE_SINK = "sagepro_payment_sink"


async def metric(pipeline: Pipeline, name: str, **labels: str) -> float:
    """The sum of a worker's samples of ``name`` whose labels include ``labels``."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(pipeline.workers[-1].metrics_url, timeout=5)).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


async def payments_on_topic(pipeline: Pipeline) -> list[tuple[bytes | None, dict[str, bytes]]]:
    records = await read_all(pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments"), 500)
    return [(key, headers) for key, _, headers in records]


async def test_replay_to_salesforce_restores_it_and_makes_no_sage_pro_call(
    pipeline: Pipeline,
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    expected = await make_transactions(pipeline, sales=4)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "Payment__c and Sage payments", 120)
    sage_before = await sagepro_references(pipeline)

    # An operator's mistake in Salesforce: two payments deleted, one altered.
    records = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
    completed = sorted(k for k, v in expected.items() if v == "Completed")
    async with pipeline.salesforce() as sf:
        for lost in completed[:2]:
            await sf.delete("Payment__c", records[lost]["Id"])
        await sf.update("Payment__c", records[completed[2]]["Id"], {"Status__c": "Failed"})
    assert not await salesforce_matches(pipeline, expected)

    on_topic = await payments_on_topic(pipeline)
    await wait_for(  # the sink has seen everything there is before the replay
        lambda: _at_least(pipeline, "paystream_events_out_total", len(on_topic), agent=SAGE_SINK),
        "the Sage Pro sink caught up",
        60,
    )
    sage_calls = await metric(pipeline, "paystream_external_calls_total", system="sagepro")
    sage_seen = await metric(pipeline, "paystream_events_in_total", agent=SAGE_SINK)

    report = await replay_payments(pipeline.kafka, since=since, sink="salesforce")

    # Latest state per key: one record per transaction, however many states it went through.
    assert report.read == len(on_topic)
    assert report.republished == len({key for key, _ in on_topic}) == len(expected)
    assert sum(r.range.stop - r.range.start for r in report.partitions) == len(on_topic)
    await wait_for(lambda: salesforce_matches(pipeline, expected), "Salesforce whole again", 90)
    await wait_for(
        lambda: _at_least(
            pipeline, "paystream_events_in_total", sage_seen + len(expected), agent=SAGE_SINK
        ),
        "the Sage Pro sink saw the replayed records",
        60,
    )
    assert await metric(pipeline, "paystream_external_calls_total", system="sagepro") == sage_calls
    assert await sagepro_references(pipeline) == sage_before

    replayed = [h for _, h in await payments_on_topic(pipeline) if "paystream-replay-id" in h]
    assert len(replayed) == len(expected)
    for headers in replayed:
        assert headers["paystream-replay-sink"] == b"salesforce"
        assert headers["paystream-replay-id"] == report.replay_id.encode()
    assert not await pipeline.dead_letters()


async def _at_least(pipeline: Pipeline, name: str, value: float, **labels: str) -> bool:
    return await metric(pipeline, name, **labels) >= value


async def run_cli(pipeline: Pipeline, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "PAYSTREAM_KAFKA_BOOTSTRAP": pipeline.bootstrap,
        "PAYSTREAM_KAFKA_TOPIC_PREFIX": pipeline.name,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "stream.cli",
        "replay",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_replay_cli_dry_run_writes_nothing_and_a_full_replay_duplicates_nothing(
    pipeline: Pipeline,
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expected = await make_transactions(pipeline, sales=3)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "Payment__c and Sage payments", 120)
    sage_before = sorted(await sagepro_references(pipeline))
    before = await payments_on_topic(pipeline)

    code, out = await run_cli(pipeline, "payments", "--since", since, "--dry-run")
    assert code == 0, out
    assert f"records read {len(before)}, distinct keys would republish {len(expected)}" in out
    assert "partition 0: offsets" in out and "dry run: nothing written" in out
    assert sorted(map(repr, await payments_on_topic(pipeline))) == sorted(map(repr, before))

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    code, out = await run_cli(pipeline, "payments", "--since", future)
    assert code == 0, out
    assert "records read 0, distinct keys republished 0" in out

    async with pipeline.salesforce() as sf:
        for record in await pipeline.payment_records():
            await sf.delete("Payment__c", record["Id"])
    code, out = await run_cli(pipeline, "payments", "--since", since, "--sink", "all")
    assert code == 0, out
    assert f"distinct keys republished {len(expected)}" in out
    await wait_for(lambda: salesforce_matches(pipeline, expected), "Salesforce whole again", 90)
    after = await payments_on_topic(pipeline)
    assert len(after) == len(before) + len(expected)
    await wait_for(
        lambda: _at_least(pipeline, "paystream_events_in_total", len(after), agent=SAGE_SINK),
        "the Sage Pro sink saw the replayed records",
        60,
    )
    assert sorted(await sagepro_references(pipeline)) == sage_before  # idempotent: no duplicate

    code, out = await run_cli(pipeline, "payments", "--since", "yesterday")
    assert code == 2 and "ISO 8601" in out


async def test_dead_letters_are_redriven_after_the_mapping_is_fixed(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    broken = tmp_path / "mapping.yaml"
    text = DEFAULT_MAPPING.read_text()
    assert "approved: Completed" in text
    broken.write_text(text.replace("approved: Completed", "approved: Complete"))
    pipeline.extra_env["PAYSTREAM_MAPPING_FILE"] = str(broken)
    pipeline.start_worker()

    approved: dict[str, str] = {}
    async with pipeline.paytrace() as paytrace:
        for cents in (1, 2):
            sale = await paytrace.sale_keyed(Decimal("30.00") + cents, VISA, 12, 2030)
            approved[str(sale.transaction_id)] = "Completed"

    async def dead_letters(count: int) -> bool:
        return len(await pipeline.dead_letters()) >= count

    await wait_for(lambda: dead_letters(2), "Salesforce refusing 'Complete'", 120)
    await wait_for(lambda: _sage_count(pipeline, 2), "Sage Pro posted both", 60)
    assert not await pipeline.payment_records()

    # Not ours: a dead letter naming another pipeline's topic is refused, never sent.
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    foreign = DeadLetter(
        source_topic="someone.else.payments",
        key="x",
        agent="salesforce_payment_sink",
        reason="salesforce:INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        error="refused",
        payload=orjson.dumps({"transaction_id": "x"}).decode(),
        at=datetime.now(UTC),
    )
    await producer.send_and_wait(
        pipeline.topic("deadletter"), foreign.model_dump_json().encode(), key=b"x"
    )
    await producer.stop()

    # Re-driven before the fix: dead-lettered again, nothing else happens.
    agent = "salesforce_payment_sink"
    report = await redrive_dead_letters(pipeline.kafka, agent=agent)
    assert sum(report.redriven.values()) == 2 and sum(report.refused.values()) == 1
    await wait_for(lambda: dead_letters(5), "the same two dead-lettered again", 60)

    # The operator fixes the mapping; workers restart with it.
    pipeline.workers[0].stop()
    del pipeline.extra_env["PAYSTREAM_MAPPING_FILE"]
    pipeline.start_worker()

    dry = await redrive_dead_letters(pipeline.kafka, agent=agent, dry_run=True)
    assert dry.redriven == {"salesforce:INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": 2}
    assert dry.duplicates == 2  # each record was dead-lettered twice: sent once
    report = await redrive_dead_letters(pipeline.kafka, agent=agent)
    assert report.redriven == dry.redriven
    rid = report.replay_id.encode()
    assert list(report.refused.values()) == [1]
    assert "not a topic of this pipeline" in next(iter(report.refused))
    await wait_for(lambda: salesforce_matches(pipeline, approved), "Payment__c after re-drive", 90)
    redriven = [(k, h) for k, h in await payments_on_topic(pipeline) if h.get(REPLAY_ID) == rid]
    assert sorted(key for key, _ in redriven) == sorted(k.encode() for k in approved)
    assert all(h["paystream-replay-sink"] == b"salesforce" for _, h in redriven)
    assert len(await pipeline.dead_letters()) == 5  # nothing failed this time
    assert len(await sagepro_references(pipeline)) == 2  # Sage Pro had them: no duplicate


async def _sage_count(pipeline: Pipeline, count: int) -> bool:
    return len(await sagepro_references(pipeline)) >= count
