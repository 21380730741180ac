"""The Salesforce API budget on the real broker with a real worker: the emulated org is pushed
over 90 % of its daily requests (its ``Sforce-Limit-Info`` says so), and then

- the risk action sink (not urgent) pauses: its scores wait, nothing of it is written;
- the payment sink keeps writing, but holds two separate waves of payments to send them in
  one sObject Collections call;
- ``paystream_api_budget_throttled`` and the usage ratio say so, with one log line;
- a new day (usage reset by the emulator's control) resumes the risk sink, with one log line.
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.payment import Payment
from stream.kafka import aiokafka_options
from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration

VISA = "4111111111111111"
# A call is full at 6 here (PAYSTREAM_SINK_BATCH_SIZE), so the two waves make one call as soon
# as the second arrives, however loaded the machine; the linger is only the ceiling.
BATCH = 6
LINGER_SECONDS = 90
ENTER = "Salesforce API budget tight"
LEAVE = "Salesforce API budget has room again"


async def sales(pipeline: Pipeline, first: int, count: int) -> list[str]:
    ids = []
    async with pipeline.paytrace() as paytrace:
        for index in range(first, first + count):
            result = await paytrace.sale_keyed(
                Decimal("25.00") + index,
                VISA,
                12,
                2030,
                billing_address={"name": f"Budget Customer {index}", "zip": f"7300{index}"},
            )
            assert result.approved
            ids.append(str(result.transaction_id))
    return ids


async def on_payments_topic(pipeline: Pipeline) -> set[str]:
    rows = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments"), idle_ms=300
    )
    return {Payment.model_validate_json(value).transaction_id for _, value, _ in rows if value}


async def scrape(pipeline: Pipeline) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(pipeline.workers[0].metrics_url, timeout=5)).text
    values = {}
    for line in text.splitlines():
        if line.startswith("paystream_") and " " in line:
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def committed_to_the_end(pipeline: Pipeline, topic: str) -> bool:
    """The worker's group (its app id) has committed every partition of ``topic`` to its end."""
    consumer = AIOKafkaConsumer(
        **aiokafka_options(pipeline.kafka, pipeline.bootstrap),
        group_id=pipeline.name,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata; this consumer never joins the group
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        return bool(partitions) and all(committed[tp] == ends[tp] for tp in partitions)
    finally:
        await consumer.stop()


async def test_tight_budget_pauses_risk_fills_payment_calls_and_a_new_day_resumes(
    pipeline: Pipeline,
) -> None:
    pipeline.extra_env.update(
        {
            "PAYSTREAM_SALESFORCE_API_BUDGET_LINGER_SECONDS": str(LINGER_SECONDS),
            "PAYSTREAM_SINK_BATCH_SIZE": str(BATCH),
            "PAYSTREAM_SALESFORCE_API_BUDGET_RECHECK_SECONDS": "2",
        }
    )
    await pipeline.control("salesforce", "usage", {"used": 4600, "limit": 5000})
    worker = pipeline.start_worker()

    first = await sales(pipeline, 0, 3)

    async def first_published() -> bool:
        return set(first) <= await on_payments_topic(pipeline)

    await wait_for(first_published, "the first wave on the payments topic", 90)
    second = await sales(pipeline, 3, 3)

    async def in_salesforce() -> bool:
        return {r["PaymentID__c"] for r in await pipeline.payment_records()} >= {*first, *second}

    await wait_for(in_salesforce, "both waves in Salesforce while the budget is tight", 180)
    held = await scrape(pipeline)
    # Two waves a poll apart, written in one collection call: the sink waited to fill it.
    assert held['paystream_sink_batch_size_count{sink="salesforce_payment_sink"}'] == 1
    assert held['paystream_sink_batch_size_sum{sink="salesforce_payment_sink"}'] == BATCH
    assert held["paystream_salesforce_api_usage_ratio"] > 0.9
    assert held['paystream_api_budget_throttled{flow="salesforce_payment_sink"}'] == 1
    assert held['paystream_api_budget_throttled{flow="risk_action_sink"}'] == 1
    assert held['paystream_api_budget_throttled{flow="settlement_reconciler"}'] == 1
    assert held['paystream_api_budget_throttled{flow="charge_agent"}'] == 0

    async def risk_sink_has_scores() -> bool:
        seen = await scrape(pipeline)
        return seen.get('paystream_events_in_total{agent="risk_action_sink"}', 0) >= 1

    await wait_for(risk_sink_has_scores, "scores reaching the paused risk sink", 60)
    payments = await pipeline.payment_records()
    assert not [p for p in payments if p.get("Risk_Score__c")], "the paused sink wrote"
    log_text = worker.log_path.read_text()
    assert log_text.count(ENTER) == 1 and LEAVE not in log_text

    await pipeline.control("salesforce", "usage", {"used": 0})  # the next day

    async def scored() -> bool:
        records = await pipeline.payment_records()
        return sum(1 for r in records if r.get("Risk_Score__c")) == 6

    await wait_for(scored, "risk scores written once the day started again", 90)
    resumed = await scrape(pipeline)
    assert resumed['paystream_api_budget_throttled{flow="risk_action_sink"}'] == 0
    assert resumed['paystream_api_budget_throttled{flow="salesforce_payment_sink"}'] == 0
    assert resumed["paystream_salesforce_api_usage_ratio"] < 0.9
    log_text = worker.log_path.read_text()
    assert log_text.count(ENTER) == 1 and log_text.count(LEAVE) == 1
    assert not await pipeline.dead_letters()

    # The held records were acknowledged after their write: the group commits to the end of
    # the payments topic, and nothing had to be read again.
    payments_topic = pipeline.topic("payments")
    await wait_for(
        lambda: committed_to_the_end(pipeline, payments_topic),
        "the payments topic committed to its end",
        60,
    )
    final = await scrape(pipeline)
    assert final['paystream_sink_batch_size_count{sink="salesforce_payment_sink"}'] == 1
    assert final[f'paystream_partition_stalls_recovered_total{{topic="{payments_topic}"}}'] == 0
