"""The settlement poller on the source runtime, with a fake PayTrace client and no broker:
each batch published once, keyed by batch number, redacted, the watermark stored after."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from agents.settlement_source import SettlementPoller, SettlementWatermark
from connectors.paytrace.models import ExportedBatch, format_export_time
from schemas.settlement import SettlementBatch
from stream.context import PipelineContext
from tests.unit.flow_fakes import FakeConnectors, context, flow
from tests.unit.source_fakes import MemoryPositions, Publisher, wired

ZONE = ZoneInfo("America/Los_Angeles")
CARD = "4000 7700 0000 0307"


def exported(number: int, days_ago: int = 0, invoice: str = "INV-1") -> ExportedBatch:
    settled = datetime.now(ZONE) - timedelta(days=days_ago)
    return ExportedBatch.model_validate(
        {
            "batch_number": number,
            "settled": format_export_time(settled),
            "transaction_count": 1,
            "net_amount": "20.00",
            "sales_count": 1,
            "sales_amount": "20.00",
            "refund_count": 0,
            "refund_amount": "0.00",
            "transactions": [
                {
                    "transaction_id": 100000000 + number,
                    "transaction_type": "SALE",
                    "amount": "20.00",
                    "invoice_id": invoice,
                    "credit_card": {"masked_number": "411111xxxxxx1111"},
                    "created": {"at": format_export_time(settled - timedelta(hours=3))},
                }
            ],
        },
        context={"tz": ZONE},
    )


class FakePayTrace:
    def __init__(self, batches: list[ExportedBatch]) -> None:
        self.batches = batches
        self.windows: list[tuple[date, date]] = []

    async def export_batches(self, start: date, end: date) -> list[ExportedBatch]:
        self.windows.append((start, end))
        return list(self.batches)


def poller(
    batches: list[ExportedBatch],
) -> tuple[SettlementPoller, FakePayTrace, MemoryPositions, Publisher, PipelineContext]:
    client = FakePayTrace(batches)
    ctx = context(
        FakeConnectors(paytrace_client=client, paytrace_settings=SimpleNamespace(zone=ZONE))
    )
    source: SettlementPoller = flow("settlement_poller", ctx)
    positions, publisher = wired(source)
    return source, client, positions, publisher, ctx


def stored(positions: MemoryPositions) -> SettlementWatermark:
    return SettlementWatermark.model_validate_json(positions.values["paytrace-settlements"])


async def test_batches_are_published_once_keyed_by_number_then_the_watermark_stored() -> None:
    source, _, positions, publisher, _ = poller([exported(7), exported(8)])
    polled = await source.poll_once()
    assert polled.fetched == 2
    assert [(r.topic, r.key) for r in publisher.records] == [
        ("paytrace_settlements", b"7"),
        ("paytrace_settlements", b"8"),
    ]
    batch = SettlementBatch.model_validate_json(publisher.records[0].value)
    assert batch.batch_number == 7 and batch.transactions[0].last_four == "1111"
    assert stored(positions).published == [7, 8]
    assert stored(positions).settled_through == datetime.now(ZONE).date()
    await source.poll_once()  # the same window again: nothing new
    assert len(publisher.records) == 2


async def test_free_text_in_a_batch_is_redacted() -> None:
    source, _, _, publisher, _ = poller([exported(9, invoice=f"paid by {CARD}")])
    await source.poll_once()
    value = publisher.records[0].value.decode()
    assert "0307" in value and "7700" not in value


async def test_a_refused_publish_leaves_the_watermark_and_publishes_again_next_time() -> None:
    source, _, positions, publisher, _ = poller([exported(7)])
    publisher.fail = RuntimeError("NotEnoughReplicas")
    await source.tick()
    assert positions.values == {} and source.current is None
    publisher.fail = None
    await source.poll_once()
    assert [r.key for r in publisher.records] == [b"7"]
    assert stored(positions).published == [7]


async def test_only_batches_the_next_window_reads_again_are_remembered() -> None:
    source, _, positions, _, ctx = poller([exported(1, days_ago=5), exported(2)])
    ctx.worker.settlement_overlap_days = 1
    ctx.worker.initial_lookback_days = 7
    await source.poll_once()
    assert stored(positions).published == [2]


async def test_the_watermark_is_read_back_after_a_gap_of_two_intervals() -> None:
    source, client, positions, _, _ = poller([])
    mark = SettlementWatermark(
        polled_through=datetime.now(UTC), settled_through=date.today() - timedelta(days=3)
    )
    await positions.put("paytrace-settlements", mark)
    await source.poll_once()
    await source.poll_once()
    assert positions.reads == 1  # ours while we keep polling
    source._last_poll -= 3 * source.interval_seconds  # another worker may have led
    await source.poll_once()
    assert positions.reads == 2
    overlap = source.ctx.worker.settlement_overlap_days
    assert client.windows[0][0] == mark.settled_through - timedelta(days=overlap)


def test_attach_adds_a_leader_only_timer_at_the_settlement_interval() -> None:
    source, _, _, _, ctx = poller([])
    timers: list[tuple[float, str, bool]] = []

    def timer(interval: float, **options: Any) -> Any:
        timers.append((interval, options["name"], bool(options.get("on_leader"))))
        return lambda fn: fn

    ctx.app.timer = timer
    source.attach()
    assert timers == [(ctx.worker.settlement_poll_interval_seconds, "settlement_poller", True)]
