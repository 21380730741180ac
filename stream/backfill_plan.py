"""Backfill, the deciding half: day chunks, which path each sink takes, what the run did.
Pure; the PayTrace, Kafka and Bulk half is stream/backfill.py.

Records go where live traffic goes: canonical payments on the payments topic, keyed by
transaction id, with the replay headers that name the sink (stream/replay_headers.py), so a
running worker's sinks write them idempotently (upsert by ``PaymentID__c``, Sage Pro by
``PaymentReference``). Above ``bulk_threshold`` payments the Salesforce side goes through one
Bulk API 2.0 job instead (Salesforce's guidance: Bulk for more than 2,000 records), and only
the rows the job could not write come back: failed rows are dead-lettered with their error,
unprocessed rows go to the payment sink through the topic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from connectors.base.settings import FileBackedSettings
from stream.replay_headers import ALL_SINKS

SALESFORCE, SAGEPRO = "salesforce", "sagepro"
SINK_CHOICES = (SALESFORCE, SAGEPRO, ALL_SINKS)


class BackfillSettings(FileBackedSettings):
    model_config = SettingsConfigDict(env_prefix="PAYSTREAM_BACKFILL_", title="backfill")

    # From this many payments in a run, Salesforce gets them through a Bulk API 2.0 job.
    bulk_threshold: int = Field(default=2000, ge=1)
    # Days per PayTrace export request (the export filters by whole days).
    chunk_days: int = Field(default=1, ge=1, le=31)


def day_chunks(first: date, last: date, days: int) -> list[tuple[date, date]]:
    """``[first, last]`` in consecutive inclusive spans of at most ``days`` days."""
    if last < first:
        raise ValueError("--to is before --from")
    chunks = []
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=days - 1))
        chunks.append((start, end))
        start = end + timedelta(days=1)
    return chunks


@dataclass(frozen=True)
class Route:
    """Where a run's payments go: the topic (with which sink header), and Bulk or not."""

    bulk: bool  # Salesforce through a Bulk API 2.0 job
    topic_sink: str | None  # the sink header of what goes on the topic; None: nothing does


def route(sink: str, payments: int, threshold: int) -> Route:
    if sink not in SINK_CHOICES:
        raise ValueError(f"unknown sink {sink!r}: one of {', '.join(SINK_CHOICES)}")
    bulk = sink in (SALESFORCE, ALL_SINKS) and payments >= threshold
    if not bulk:
        return Route(False, sink)
    return Route(True, SAGEPRO if sink == ALL_SINKS else None)


@dataclass
class BackfillReport:
    backfill_id: str
    first: date
    last: date
    sink: str
    dry_run: bool
    fetched: int = 0
    payments: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason -> count
    published: int = 0  # payments put on the topic (for the pipeline's sinks)
    topic_sink: str | None = None  # the sink header they carry
    bulk: bool = False
    bulk_jobs: list[str] = field(default_factory=list)
    bulk_processed: int = 0
    bulk_failed: int = 0  # dead-lettered with their error
    bulk_unprocessed: int = 0  # sent to the payment sink through the topic
    salesforce_calls: int = 0

    def lines(self) -> list[str]:
        verb = "would publish" if self.dry_run else "published"
        out = [
            f"backfill {self.backfill_id} of {self.first} .. {self.last} for sink {self.sink}",
            f"  PayTrace export: {self.fetched} transactions, {self.payments} payments",
        ]
        out += [f"  rejected {n}: {reason}" for reason, n in sorted(self.rejected.items())]
        if self.bulk and self.dry_run:
            out.append(f"  Salesforce: would upsert {self.payments} through Bulk API 2.0")
        elif self.bulk:
            jobs = ", ".join(self.bulk_jobs) or "none"
            out.append(
                f"  Salesforce Bulk API 2.0: jobs {jobs}; {self.bulk_processed} processed, "
                f"{self.bulk_failed} failed (dead-lettered), {self.bulk_unprocessed} "
                f"unprocessed (sent through the topic); {self.salesforce_calls} API calls"
            )
        target = f" for sink {self.topic_sink}" if self.published and self.topic_sink else ""
        out.append(f"  {verb} {self.published} payments to the payments topic{target}")
        if self.dry_run:
            out.append("dry run: nothing written")
        return out
