"""The PayTrace poller on the source runtime, with a fake PayTrace client and no broker:
records in, records published, and the watermark stored only once they are acknowledged."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from agents.paytrace_source import PayTracePoller, Watermark
from connectors.paytrace.models import ExportedTransaction, format_export_time
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.context import PipelineContext
from stream.runtime.processor import Emit
from stream.runtime.source import door_key
from stream.topic_names import topic_name
from tests.unit.flow_fakes import FakeConnectors, context, flow
from tests.unit.source_fakes import MemoryPositions, Publisher, wired

CARD = "4000 7700 0000 0307"
ZONE = ZoneInfo("America/Los_Angeles")


def transaction(tx_id: int, status: str = "APPROVED", **extra: Any) -> ExportedTransaction:
    created = datetime.now(ZONE) - timedelta(minutes=10)
    return ExportedTransaction.model_validate(
        {
            "transaction_id": tx_id,
            "transaction_type": "SALE",
            "status": status,
            "amount": "12.50",
            "created": {"at": format_export_time(created)},
            **extra,
        }
    )


class FakePayTrace:
    def __init__(self, records: list[ExportedTransaction]) -> None:
        self.records = records
        self.windows: list[tuple[date, date]] = []

    async def export_by_date_range(self, start: date, end: date) -> list[ExportedTransaction]:
        self.windows.append((start, end))
        return list(self.records)


def poller(
    records: list[ExportedTransaction],
) -> tuple[PayTracePoller, FakePayTrace, MemoryPositions, Publisher, PipelineContext]:
    client = FakePayTrace(records)
    ctx = context(
        FakeConnectors(
            paytrace_client=client,
            paytrace_settings=SimpleNamespace(zone=ZONE),
        )
    )
    source: PayTracePoller = flow("paytrace_poller", ctx)
    positions, publisher = wired(source)
    return source, client, positions, publisher, ctx


def failed() -> float:
    value = metrics.REGISTRY.get_sample_value(
        "paystream_events_failed_total", {"agent": "paytrace_poller"}
    )
    return value or 0.0


async def test_records_are_published_keyed_by_id_redacted_then_the_watermark_stored() -> None:
    source, _, positions, publisher, _ = poller(
        [transaction(1), transaction(2, description=f"card {CARD}")]
    )
    polled = await source.poll_once()
    assert polled.fetched == 2
    assert [(r.topic, r.key) for r in publisher.records] == [
        ("paytrace_raw", b"1"),
        ("paytrace_raw", b"2"),
    ]
    raw = RawPayTraceTransaction.model_validate(orjson.loads(publisher.records[1].value))
    assert raw.source == "poll" and raw.merchant_timezone == "America/Los_Angeles"
    assert "0307" in raw.record["description"] and "7700" not in raw.record["description"]
    stored = Watermark.model_validate_json(positions.values["paytrace"])
    assert stored == polled.position == source.current
    assert stored.oldest_open is not None  # approved, not settled: may still change


async def test_an_unchanged_record_is_not_published_again_but_a_changed_one_is() -> None:
    records = [transaction(1), transaction(2)]
    source, _, _, publisher, _ = poller(records)
    await source.poll_once()
    await source.poll_once()
    assert len(publisher.records) == 2
    records[1] = transaction(2, status="VOIDED")
    await source.poll_once()
    assert [r.key for r in publisher.records] == [b"1", b"2", b"2"]


async def test_a_refused_publish_leaves_the_watermark_and_republishes_next_time() -> None:
    source, _, positions, publisher, _ = poller([transaction(1)])
    publisher.fail = RuntimeError("KafkaTimeoutError")
    before = failed()
    await source.tick()  # the timer's body: never raises, counts the failure
    assert failed() == before + 1
    assert positions.values == {} and source.current is None
    publisher.fail = None
    await source.poll_once()
    # Not remembered as published while unacknowledged: the same record goes out now.
    assert [r.key for r in publisher.records] == [b"1"]
    assert "paytrace" in positions.values


async def test_a_failed_poll_keeps_the_stored_watermark_and_lets_the_lag_grow() -> None:
    source, _, positions, publisher, _ = poller([transaction(1)])
    await source.poll_once()
    kept = positions.values["paytrace"]
    source.current = source.current.model_copy(  # type: ignore[union-attr]
        update={"polled_through": datetime.now(UTC) - timedelta(minutes=10)}
    )
    publisher.fail = RuntimeError("broker down")
    source.schedule.hurry()  # the adaptive schedule would wait out the base interval
    await source.tick()
    assert positions.values["paytrace"] == kept
    lag = metrics.REGISTRY.get_sample_value("paystream_paytrace_watermark_lag_seconds")
    assert lag is not None and lag >= 599


async def test_the_watermark_is_read_back_only_while_none_is_held() -> None:
    source, client, positions, _, _ = poller([transaction(1)])
    stored = Watermark(
        polled_through=datetime.now(UTC) - timedelta(hours=1),
        created_through=datetime.now(UTC) - timedelta(hours=2),
        oldest_open=datetime.now(UTC) - timedelta(days=3),
    )
    await positions.put("paytrace", stored)
    await source.poll_once()
    source._last_poll -= 10 * source.interval_seconds  # a gap does not matter to this poller
    await source.poll_once()
    assert positions.reads == 1
    # The first window reaches back to the oldest open transaction of the stored watermark.
    assert client.windows[0][0] == stored.oldest_open.astimezone(ZONE).date()  # type: ignore[union-attr]


@pytest.mark.parametrize("lookback", [0, 1])
async def test_without_a_watermark_the_window_starts_at_the_initial_lookback(
    lookback: int,
) -> None:
    source, client, _, _, ctx = poller([])
    ctx.worker.initial_lookback_days = lookback
    await source.poll_once()
    today = datetime.now(ZONE).date()
    start = (datetime.now(UTC) - timedelta(days=lookback)).astimezone(ZONE).date()
    assert client.windows == [(start, today)]


def test_attach_adds_the_leader_only_poll_and_the_lag_timer() -> None:
    source, _, _, _, ctx = poller([])
    timers: list[tuple[float, str, bool]] = []

    def timer(interval: float, **options: Any) -> Any:
        timers.append((interval, options["name"], bool(options.get("on_leader"))))
        return lambda fn: fn

    ctx.app.timer = timer
    source.attach()
    assert timers == [
        (ctx.worker.poll_interval_seconds, "paytrace_poller", True),
        (5.0, "paytrace_watermark_lag", False),
    ]


async def test_aclose_closes_the_position_store() -> None:
    source, _, positions, _, _ = poller([])
    await source.aclose()
    assert positions.closed


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []

    async def send(self, topic: str, key: bytes | None = None, **_: Any) -> Any:
        self.sent.append((topic, key))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_published_keys_are_identifiers_anything_else_goes_out_as_its_hash() -> None:
    source, _, _, _, ctx = poller([])
    producer = FakeProducer()
    source._producer = producer
    long_key = b"k" * (ctx.limits.max_key_bytes + 1)
    keys = [b"100000001", CARD.encode(), long_key, b"bad\nkey", None]
    await PayTracePoller.publish(source, [Emit("paytrace_raw", k, b"{}") for k in keys])  # type: ignore[arg-type]
    sent = [key for _, key in producer.sent]
    assert {topic for topic, _ in producer.sent} == {topic_name(ctx.kafka, "paytrace_raw")}
    assert sent[0] == b"100000001" and sent[4] is None
    for original, key in zip(keys[1:4], sent[1:4], strict=True):
        assert key == door_key(original, ctx.limits.max_key_bytes)
        assert key is not None and len(key) == 64 and b"0307" not in key
