"""Source agent: pulls PayTrace's settled batches (``/v1/batches/export``) for reconciliation.

PayTrace's v1 API has no webhooks, so settlement is polled like transactions are, but rarely
(``PAYSTREAM_SETTLEMENT_POLL_INTERVAL_SECONDS``, default 300 s: PayTrace settles once a day):
- the window runs from the watermark's settlement day, minus an overlap, to today (merchant
  local days, as the export filters them);
- each batch goes to ``<prefix>.paytrace.settlements`` keyed by batch number, once: the
  watermark remembers the batches published in the window it will read again;
- the runtime writes the watermark to the compacted position topic (key
  ``paytrace-settlements``, beside the transaction poll's) after the batches are acknowledged,
  so a crash can only publish a batch twice, never skip one, and the reconciler is idempotent
  by batch number.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, Field

from connectors.paytrace.models import ExportedBatch
from schemas.settlement import SettledTransaction, SettlementBatch
from stream.pci import redact
from stream.runtime.processor import Emit
from stream.runtime.source import Polled, PolledSource
from stream.topic_names import WATERMARK_TOPIC
from stream.transform import last_four_of

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


def settlement_value(batch: SettlementBatch) -> bytes:
    """The published value: free text (invoice ids) passes card-number redaction too."""
    return orjson.dumps(redact(batch.model_dump(mode="json")))


class SettlementPoller(PolledSource[SettlementWatermark]):
    # Leader only, like the transaction poller; PayTrace settles once a day, so rarely.
    position_topic = WATERMARK_TOPIC
    position_model = SettlementWatermark
    position_key = WATERMARK_KEY

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.zone = self.ctx.connectors.paytrace_settings.zone

    @property
    def interval_seconds(self) -> float:
        return self.ctx.worker.settlement_poll_interval_seconds

    async def poll(self, position: SettlementWatermark | None) -> Polled[SettlementWatermark]:
        """The batches not published yet, and the watermark that remembers them."""
        now = datetime.now(UTC)
        today = now.astimezone(self.zone).date()
        worker = self.ctx.worker
        start = window_start(
            today, position, worker.initial_lookback_days, worker.settlement_overlap_days
        )
        batches = await self.ctx.connectors.paytrace().export_batches(start, today)
        done = set(position.published) if position else set()
        records = []
        for batch in batches:
            if batch.batch_number in done:
                continue
            record = to_settlement(batch, self.zone, now)
            # The key is the numeric batch number, never free text.
            records.append(Emit("paytrace_settlements", record.key, settlement_value(record)))
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
        return Polled(records=records, position=watermark, fetched=len(batches))
