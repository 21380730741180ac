"""Source agent: pulls PayTrace's settled batches (``/v1/batches/export``) for reconciliation.

PayTrace's v1 API has no webhooks, so settlement is polled like transactions are, but rarely
(``PAYSTREAM_SETTLEMENT_POLL_INTERVAL_SECONDS``, default 300 s: PayTrace settles once a day):
- the window runs from the watermark's settlement day, minus an overlap, to today (merchant
  local days, as the export filters them);
- each batch goes to ``<prefix>.paytrace.settlements`` keyed by batch number, once: the
  watermark remembers the batches published in the window it will read again;
- the watermark is written to the compacted position topic (key ``paytrace-settlements``,
  beside the transaction poll's) after the batches are flushed, so a crash can only publish a
  batch twice, never skip one, and the reconciler is idempotent by batch number.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel, Field

from agents.context import PipelineContext
from agents.kafka_position import CompactedPosition, source_producer
from connectors.paytrace.models import ExportedBatch
from schemas.settlement import SettledTransaction, SettlementBatch
from stream import metrics
from stream.topology import WATERMARK_TOPIC, topic_name
from stream.transform import last_four_of

AGENT = "settlement_poller"
WATERMARK_KEY = "paytrace-settlements"
MAX_LOOKBACK_DAYS = 31


class SettlementWatermark(BaseModel):
    polled_through: datetime
    settled_through: date  # merchant-local settlement day the export was read through
    published: list[int] = Field(default_factory=list)  # batches in the window read again


def _aware(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def to_settlement(batch: ExportedBatch, zone: ZoneInfo, fetched_at: datetime) -> SettlementBatch:
    """The batch as published: no card data beyond the last four digits."""
    settled = _aware(batch.settled, zone)
    transactions = [
        SettledTransaction(
            transaction_id=str(tx.transaction_id),
            transaction_type=str(tx.transaction_type),
            amount=tx.amount,
            invoice_id=tx.invoice_id or None,
            last_four=last_four_of(tx.credit_card.masked_number) if tx.credit_card else None,
            created_at=_aware(tx.created.at, zone),
        )
        for tx in batch.transactions
    ]
    return SettlementBatch(
        batch_number=batch.batch_number,
        settled_at=settled,
        settled_on=settled.astimezone(zone).date(),
        transaction_count=batch.transaction_count,
        net_amount=batch.net_amount,
        sales_count=batch.sales_count,
        sales_amount=batch.sales_amount,
        refund_count=batch.refund_count,
        refund_amount=batch.refund_amount,
        transactions=transactions,
        fetched_at=fetched_at,
        merchant_timezone=str(zone),
    )


def window_start(
    today: date, watermark: SettlementWatermark | None, lookback_days: int, overlap_days: int
) -> date:
    if watermark is None:
        start = today - timedelta(days=lookback_days)
    else:
        start = watermark.settled_through - timedelta(days=overlap_days)
    return max(start, today - timedelta(days=MAX_LOOKBACK_DAYS))


class SettlementPoller:
    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.topic = topic_name(ctx.kafka, "paytrace_settlements")
        self.positions = CompactedPosition(ctx, topic_name(ctx.kafka, WATERMARK_TOPIC))
        self.zone = ctx.connectors.paytrace_settings.zone
        self._producer: AIOKafkaProducer | None = None
        self._watermark: SettlementWatermark | None = None
        self._last_poll = 0.0  # monotonic

    async def aclose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.positions.aclose()

    async def watermark(self) -> SettlementWatermark | None:
        """Ours while we kept polling; read back when another worker may have led meanwhile
        (the timer runs on the leader only, so a gap of two intervals means we were not)."""
        started = time.monotonic()
        gap = started - self._last_poll
        if self._last_poll == 0.0 or gap > 2 * self.ctx.worker.settlement_poll_interval_seconds:
            self.positions.forget()
            self._watermark = await self.positions.get(WATERMARK_KEY, SettlementWatermark)
        self._last_poll = started
        return self._watermark

    async def poll_once(self) -> list[int]:
        """Publishes the batches not published yet; returns their numbers."""
        watermark = await self.watermark()
        now = datetime.now(UTC)
        today = now.astimezone(self.zone).date()
        worker = self.ctx.worker
        start = window_start(
            today, watermark, worker.initial_lookback_days, worker.settlement_overlap_days
        )
        batches = await self.ctx.connectors.paytrace().export_batches(start, today)
        metrics.EVENTS_IN.labels(AGENT).inc(len(batches))
        done = set(watermark.published) if watermark else set()
        fresh = [b for b in batches if b.batch_number not in done]
        if fresh:
            if self._producer is None:
                self._producer = await source_producer(self.ctx)
            for batch in fresh:
                record = to_settlement(batch, self.zone, now)
                await self._producer.send(
                    self.topic, key=record.key, value=orjson.dumps(record.model_dump(mode="json"))
                )
            await self._producer.flush()
        # Only batches of days the next window reads again need remembering.
        next_start = today - timedelta(days=worker.settlement_overlap_days)
        keep = {
            b.batch_number
            for b in batches
            if _aware(b.settled, self.zone).astimezone(self.zone).date() >= next_start
        }
        watermark = SettlementWatermark(
            polled_through=now, settled_through=today, published=sorted(keep)
        )
        await self.positions.put(WATERMARK_KEY, watermark)
        self._watermark = watermark
        metrics.EVENTS_OUT.labels(AGENT).inc(len(fresh))
        return [b.batch_number for b in fresh]
