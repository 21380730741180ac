"""Pipeline v1 end to end: PayTrace emulator -> poller -> Kafka -> normalizer -> sinks ->
Salesforce and Sage Pro emulators, with real `paystream worker` processes on the real broker."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration

VISA = "4111111111111111"


async def make_transactions(
    pipeline: Pipeline, sales: int, *, refund: bool = True
) -> dict[str, str]:
    """``sales`` approved keyed sales plus one decline and one void; with ``refund``, one more
    sale, settled at once (PayTrace refunds settled sales only, error 817 otherwise), and a
    partial refund of it. Returns transaction id -> the Payment__c status Salesforce should
    end with."""
    expected: dict[str, str] = {}
    async with pipeline.paytrace() as paytrace:
        if refund:
            settled = await paytrace.sale_keyed(Decimal("19.00"), VISA, 12, 2030)
            refunded = settled.transaction_id or 0
            assert settled.approved and refunded
            # Settles whatever is open: this sale, and any earlier call's.
            assert (await paytrace.settle()).transaction_count >= 1
            expected[str(refunded)] = "Settled"
        approved = []
        for index in range(sales):
            result = await paytrace.sale_keyed(Decimal("20.00") + index, VISA, 12, 2030)
            assert result.approved
            approved.append(result.transaction_id)
            expected[str(result.transaction_id)] = "Completed"
        declined = await paytrace.sale_keyed(Decimal("15.02"), VISA, 12, 2030)
        assert declined.declined
        expected[str(declined.transaction_id)] = "Failed"
        voided = await paytrace.void(approved[0])
        assert voided.response_code == 109
        expected[str(approved[0])] = "Voided"
        if refund:
            result = await paytrace.refund_for_transaction(refunded, "5.00")
            assert result.response_code == 106
            expected[str(result.transaction_id)] = "Refunded"
    return expected


async def salesforce_matches(pipeline: Pipeline, expected: dict[str, str]) -> bool:
    records = await pipeline.payment_records()
    found = {r["PaymentID__c"]: r["Status__c"] for r in records}
    return found == expected and len(records) == len(expected)


async def sagepro_references(pipeline: Pipeline) -> list[str]:
    async with pipeline.sagepro() as sage:
        return [p.payment_reference for p in await sage.list_payments()]


async def delivered(pipeline: Pipeline, expected: dict[str, str]) -> bool:
    """Every Payment__c as expected, and every Sage Pro payment (+ the void's reversal)."""
    if not await salesforce_matches(pipeline, expected):
        return False
    return len(await sagepro_references(pipeline)) >= len(expected) + 1


async def test_transactions_flow_once_even_when_polled_twice(pipeline: Pipeline) -> None:
    expected = await make_transactions(pipeline, sales=6)
    pipeline.start_worker()
    await wait_for(lambda: delivered(pipeline, expected), "Payment__c and Sage payments", 90)

    async with pipeline.sagepro() as sage:
        payments = {p.payment_reference: str(p.payment_status) for p in await sage.list_payments()}
        entries = [j.reference for j in await sage.list_journal_entries()]
    voided = next(k for k, v in expected.items() if v == "Voided")
    refund = next(k for k, v in expected.items() if v == "Refunded")
    declined = next(k for k, v in expected.items() if v == "Failed")
    assert payments[voided] in ("Paid", "OnAccount")
    assert payments[voided + "-VOID"] == "Voided"
    assert payments[refund] == "Refunded"
    assert payments[declined] == "Failed"
    assert len(entries) == len(set(entries)), "a journal entry was posted twice"
    assert declined not in entries, "a decline moved no money: no journal entry"

    canonical_before = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments")
    )
    raw_before = await read_all(pipeline.kafka, pipeline.bootstrap, pipeline.topic("paytrace_raw"))

    # A new worker reads the watermark, polls the same window again and republishes it.
    pipeline.workers[0].stop()
    pipeline.start_worker()

    async def republished() -> bool:
        raw = await read_all(
            pipeline.kafka, pipeline.bootstrap, pipeline.topic("paytrace_raw"), idle_ms=300
        )
        return len(raw) >= 2 * len(raw_before)

    await wait_for(republished, "the same transactions polled a second time", 90)
    await wait_for(lambda: salesforce_matches(pipeline, expected), "Payment__c records", 120)
    canonical_after = await read_all(pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments"))
    assert len(canonical_after) == len(canonical_before), "dedupe re-emitted a payment"
    assert not await pipeline.dead_letters()


async def test_malformed_records_are_dead_lettered_and_the_pipeline_goes_on(
    pipeline: Pipeline,
) -> None:
    pipeline.start_worker()
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    raw_topic = pipeline.topic("paytrace_raw")

    async def topic_ready() -> bool:
        return raw_topic in (await producer.client.fetch_all_metadata()).topics()

    await wait_for(topic_ready, "the worker created its topics", 60)
    bad = {
        b"not-json": b"{this is not json",
        b"no-record": orjson.dumps({"fetched_at": "2026-11-22T10:00:00Z"}),
        b"bad-type": orjson.dumps(
            {
                "fetched_at": "2026-11-22T10:00:00Z",
                "record": {
                    "transaction_id": 77,
                    "transaction_type": "TELEPORT",
                    "amount": "1.00",
                    "description": "card 4111 1111 1111 1111 cvv 123",
                    "created": {"at": "11/22/2026 10:00:00 AM"},
                },
            }
        ),
    }
    for key, value in bad.items():
        await producer.send_and_wait(raw_topic, key=key, value=value)
    await producer.stop()

    expected = await make_transactions(pipeline, sales=2)
    await wait_for(lambda: salesforce_matches(pipeline, expected), "good records after bad", 90)

    async def three_dead() -> bool:
        return len(await pipeline.dead_letters()) >= 3

    await wait_for(three_dead, "three dead letters", 120)
    dead = await pipeline.dead_letters()
    reasons = {key: headers["paystream-reason"].decode() for key, _, headers in dead}
    assert reasons == {
        b"not-json": "malformed",
        b"no-record": "malformed",
        b"bad-type": "unknown_type",
    }
    for _, value, _ in dead:
        assert value is not None
        assert b"4111111111111111" not in value and b"4111 1111 1111 1111" not in value
        assert orjson.loads(value)["agent"] == "payment_normalizer"
    metrics = pipeline.workers[0].metrics_url
    import httpx

    async with httpx.AsyncClient() as http:
        text = (await http.get(metrics)).text
    assert 'paystream_dead_letters_total{reason="unknown_type"' in text


async def test_sink_outage_is_held_and_everything_delivered_after(pipeline: Pipeline) -> None:
    pipeline.start_worker()
    await pipeline.control("salesforce", "faults", {"down_seconds": 12})
    await pipeline.control("sagepro", "faults", {"down_seconds": 12})
    expected = await make_transactions(pipeline, sales=4)
    await wait_for(lambda: delivered(pipeline, expected), "delivery after the outage", 120)
    refs = await sagepro_references(pipeline)
    assert len(refs) == len(set(refs)) == len(expected) + 1  # + the void's reversal
    assert not await pipeline.dead_letters()
