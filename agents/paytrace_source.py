"""Source agent: polls PayTrace's date-range export with a durable watermark.

PayTrace's v1 API has no webhooks, so polling is the path that cannot miss anything:
- the window starts at the watermark minus an overlap, or earlier while some transaction is
  still open (unsettled sales can still be voided, captured or settled, which changes the
  same transaction id in later exports);
- records go to the raw topic keyed by transaction id; a record is published again only when
  its state changed since this worker last published it (downstream dedupe is the guarantee);
- the watermark is written to a compacted topic after the records are flushed, so a crash
  can only cause a re-read, never a gap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from agents.context import PipelineContext
from agents.kafka_position import CompactedPosition, source_producer
from connectors.paytrace.models import ExportedTransaction, format_export_time
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.pci import redact
from stream.topology import WATERMARK_TOPIC, topic_name

log = logging.getLogger(__name__)
AGENT = "paytrace_poller"
_TERMINAL = ("declin", "void", "refund")  # states after which a transaction never changes
MAX_LOOKBACK = timedelta(days=7)
WATERMARK_KEY = "paytrace"


class Watermark(BaseModel):
    polled_through: datetime  # the export was read up to this moment
    created_through: datetime  # newest creation time seen (aware)
    oldest_open: datetime | None = None  # oldest transaction that may still change


def record_payload(record: ExportedTransaction) -> dict[str, Any]:
    """The record as PayTrace's export shows it (its own time format), card data redacted."""
    data: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    data["created"]["at"] = format_export_time(record.created.at)
    if record.settled is not None:
        data["settled"] = format_export_time(record.settled)
    redacted: dict[str, Any] = redact(data)
    return redacted


def is_open(record: ExportedTransaction) -> bool:
    status = (record.status or "").lower()
    return record.settled is None and not any(word in status for word in _TERMINAL)


@dataclass
class PollResult:
    fetched: int
    published: int
    watermark: Watermark


class PayTracePoller:
    def __init__(self, ctx: PipelineContext) -> None:
        self.ctx = ctx
        self.raw_topic = topic_name(ctx.kafka, "paytrace_raw")
        self.watermarks = CompactedPosition(ctx, topic_name(ctx.kafka, WATERMARK_TOPIC))
        self.zone = ctx.connectors.paytrace_settings.zone
        self._producer: AIOKafkaProducer | None = None
        self._watermark: Watermark | None = None
        self._published: dict[int, tuple[str, str, str]] = {}

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = await source_producer(self.ctx)
        return self._producer

    async def aclose(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.watermarks.aclose()

    async def load_watermark(self) -> Watermark | None:
        """The last watermark written to the compacted topic (any worker may have written it)."""
        self.watermarks.forget()
        return await self.watermarks.get(WATERMARK_KEY, Watermark)

    def window_start(self, now: datetime, watermark: Watermark | None) -> date:
        overlap = timedelta(seconds=self.ctx.worker.poll_overlap_seconds)
        if watermark is None:
            start = now - timedelta(days=self.ctx.worker.initial_lookback_days)
        else:
            start = watermark.created_through - overlap
            if watermark.oldest_open is not None:
                start = min(start, watermark.oldest_open)
        return max(start, now - MAX_LOOKBACK).astimezone(self.zone).date()

    def update_lag(self) -> None:
        """Seconds since the export was last read through: grows while polling fails."""
        if self._watermark is not None:
            lag = datetime.now(UTC) - self._watermark.polled_through
            metrics.PAYTRACE_WATERMARK_LAG.set(lag.total_seconds())

    async def poll_once(self) -> PollResult:
        if self._watermark is None:
            self._watermark = await self.load_watermark()
        now = datetime.now(UTC)
        start = self.window_start(now, self._watermark)
        records = await self.ctx.connectors.paytrace().export_by_date_range(
            start, now.astimezone(self.zone).date()
        )
        producer = await self.producer()
        published = 0
        newest = self._watermark.created_through if self._watermark else None
        oldest_open: datetime | None = None
        for record in records:
            created = record.created.at.replace(tzinfo=self.zone)
            newest = created if newest is None else max(newest, created)
            if is_open(record):
                oldest_open = created if oldest_open is None else min(oldest_open, created)
            state = (record.status or "", str(record.settled or ""), str(record.amount))
            if self._published.get(record.transaction_id) == state:
                continue
            raw = RawPayTraceTransaction(
                source="poll",
                fetched_at=now,
                merchant_timezone=str(self.zone),
                record=record_payload(record),
            )
            await producer.send(
                self.raw_topic,
                key=str(record.transaction_id).encode(),
                value=orjson.dumps(raw.model_dump(mode="json")),
            )
            self._published[record.transaction_id] = state
            published += 1
        await producer.flush()
        watermark = Watermark(
            polled_through=now, created_through=newest or now, oldest_open=oldest_open
        )
        await self.watermarks.put(WATERMARK_KEY, watermark)
        self._watermark = watermark
        if len(self._published) > 200_000:  # bounded memory; a re-publish is harmless
            self._published.clear()
        metrics.EVENTS_IN.labels(AGENT).inc(len(records))
        metrics.EVENTS_OUT.labels(AGENT).inc(published)
        metrics.PAYTRACE_WATERMARK_LAG.set(0.0)
        return PollResult(len(records), published, watermark)
