"""Source agent: polls PayTrace's date-range export with a durable watermark.

PayTrace's v1 API has no webhooks, so polling is the path that cannot miss anything (the
push ingress and the charge agent's own sales are the real-time paths):
- the timer ticks every base interval, but the window is read only when its adaptive
  schedule says so (agents/paytrace_sweep.py: records downloaded per new or changed
  transaction stay near a target however large the day grows);
- the window starts at the watermark minus an overlap, or earlier while some transaction is
  still open (unsettled sales can still be voided, captured or settled, which changes the
  same transaction id in later exports);
- records go to the raw topic keyed by transaction id; a record is published again only when
  its state changed since this worker last published it (downstream dedupe is the guarantee);
- the runtime writes the watermark to a compacted topic after the records are acknowledged,
  so a crash can only cause a re-read, never a gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel

from agents.paytrace_sweep import SweepSchedule
from connectors.paytrace.models import ExportedTransaction, format_export_time
from schemas.raw import RawPayTraceTransaction
from stream import metrics
from stream.pci import redact
from stream.runtime.processor import Emit
from stream.runtime.source import Polled, PolledSource
from stream.topic_names import WATERMARK_TOPIC

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


State = tuple[str, str, str]  # status, settled, amount: what makes a record worth publishing


def _state(record: ExportedTransaction) -> State:
    return (record.status or "", str(record.settled or ""), str(record.amount))


class PayTracePoller(PolledSource[Watermark]):
    position_topic = WATERMARK_TOPIC
    position_model = Watermark
    position_key = WATERMARK_KEY
    # The watermark is read back only while we hold none: a stale one only widens the window.
    reread_after_gap: ClassVar[bool] = False

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.zone = self.ctx.connectors.paytrace_settings.zone
        self._published: dict[int, State] = {}
        self._sending: dict[int, State] = {}  # this poll's records, ours once acknowledged
        # Injected by simulations (bench/paytrace_polling.py); the real clocks otherwise.
        self.clock: Callable[[], float] = time.monotonic
        self.wallclock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._read_started: float | None = None
        worker = self.ctx.worker
        self.schedule = SweepSchedule(
            base=worker.poll_interval_seconds,
            ceiling=worker.poll_max_interval_seconds,
            ratio=worker.poll_download_ratio,
            free_records=worker.poll_free_records,
        )

    @property
    def interval_seconds(self) -> float:
        return self.ctx.worker.poll_interval_seconds

    def attach(self) -> None:
        super().attach()
        # Every worker: followers hold no watermark and leave the gauge alone.
        self.every(5.0, self._lag_tick, name="paytrace_watermark_lag")

    async def _lag_tick(self) -> None:
        self.update_lag()

    async def tick(self) -> None:
        # The timer runs at the base interval; the schedule decides whether this one reads.
        # Intervals count from the start of a read, as the timer's ticks do.
        self._read_started = self.clock()
        if self.schedule.due(self._read_started):
            await super().tick()

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
        if self.current is not None:
            lag = datetime.now(UTC) - self.current.polled_through
            metrics.PAYTRACE_WATERMARK_LAG.set(lag.total_seconds())

    async def poll(self, position: Watermark | None) -> Polled[Watermark]:
        now = self.wallclock()
        start = self.window_start(now, position)
        records = await self.ctx.connectors.paytrace().export_by_date_range(
            start, now.astimezone(self.zone).date()
        )
        out: list[Emit] = []
        self._sending = {}
        newest = position.created_through if position else None
        oldest_open: datetime | None = None
        for record in records:
            created = record.created.at.replace(tzinfo=self.zone)
            newest = created if newest is None else max(newest, created)
            if is_open(record):
                oldest_open = created if oldest_open is None else min(oldest_open, created)
            state = _state(record)
            if self._published.get(record.transaction_id) == state:
                continue
            raw = RawPayTraceTransaction(
                source="poll",
                fetched_at=now,
                merchant_timezone=str(self.zone),
                record=record_payload(record),
            )
            # The key is PayTrace's numeric id, never free text.
            key = str(record.transaction_id).encode()
            out.append(Emit("paytrace_raw", key, orjson.dumps(raw.model_dump(mode="json"))))
            self._sending[record.transaction_id] = state
        watermark = Watermark(
            polled_through=now, created_through=newest or now, oldest_open=oldest_open
        )
        return Polled(records=out, position=watermark, fetched=len(records))

    def committed(self, polled: Polled[Watermark]) -> None:
        # Only acknowledged records count as published: a failed poll publishes them again.
        self._published.update(self._sending)
        self._sending = {}
        started = self._read_started if self._read_started is not None else self.clock()
        self.schedule.observe(started, polled.fetched, len(polled.records))
        self._read_started = None
        if len(self._published) > 200_000:  # bounded memory; a re-publish is harmless
            self._published.clear()
        metrics.PAYTRACE_WATERMARK_LAG.set(0.0)

    def polling_failed(self) -> None:
        self.update_lag()
