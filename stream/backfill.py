"""``paystream backfill``: PayTrace exports for a date range, through the same pipeline.

Safe while workers run, like ``paystream replay``: nothing is reset, records are published
with their transaction id as key, and every sink is idempotent. The PayTrace export is the
current truth of each transaction; a live change published after the run's read reaches the
sinks after it on the same partition, so the last write is the newest state. What goes where
is stream/backfill_plan.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from agents.paytrace_source import record_payload
from agents.salesforce_sink import SalesforcePaymentSink
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import ExportedTransaction
from connectors.salesforce.bulk import BulkIngest, BulkOutcome, row_error
from connectors.salesforce.client import SalesforceClient
from schemas.payment import Payment
from schemas.raw import RawPayTraceTransaction
from stream.backfill_plan import BackfillReport, BackfillSettings, day_chunks, route
from stream.kafka import aiokafka_options
from stream.mapping import Mapping
from stream.mapping_version import version_header
from stream.replay import resolve_bootstrap
from stream.replay_headers import replay_headers
from stream.runtime.dead_letters import build
from stream.runtime.records import Incoming
from stream.settings import KafkaSettings
from stream.to_salesforce import payment_record
from stream.topic_names import topic_name
from stream.topology import FLOWS
from stream.transform import InvalidRecord, to_payment

# Bulk dead letters are the payment sink's (a re-drive goes to that sink only).
AGENT = next(flow.name for flow in FLOWS if flow.cls is SalesforcePaymentSink)
Progress = Callable[[int, int], None]  # (days done, payments so far)


@dataclass
class Backfill:
    kafka: KafkaSettings
    settings: BackfillSettings
    mapping: Mapping
    paytrace: PayTraceClient
    salesforce: Callable[[], SalesforceClient]  # built only when Bulk is used
    zone: str
    payload_limit: int = 16 * 1024

    async def read(self, report: BackfillReport, progress: Progress | None) -> list[Payment]:
        """Export the range in day chunks, as canonical payments (the normalizer's transform)."""
        out: list[Payment] = []
        chunks = day_chunks(report.first, report.last, self.settings.chunk_days)
        for done, (first, last) in enumerate(chunks, start=1):
            for record in await self.paytrace.export_by_date_range(first, last):
                report.fetched += 1
                converted = self._payment(record)
                if isinstance(converted, str):
                    report.rejected[converted] += 1
                else:
                    out.append(converted)
            if progress is not None:
                progress(done, len(out))
        report.payments = len(out)
        return out

    def _payment(self, record: ExportedTransaction) -> Payment | str:
        raw = RawPayTraceTransaction(
            source="replay",  # a re-read of the source, like a replay
            fetched_at=datetime.now(UTC),
            merchant_timezone=self.zone,
            record=record_payload(record),
        )
        try:
            return to_payment(raw, self.mapping)
        except InvalidRecord as exc:  # the normalizer would dead-letter it the same way
            return exc.reason
        except ValueError:
            return "malformed"

    async def run(
        self,
        first: date,
        last: date,
        sink: str,
        *,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> BackfillReport:
        report = BackfillReport(str(uuid.uuid4()), first, last, sink, dry_run)
        payments = await self.read(report, progress)
        plan = route(sink, len(payments), self.settings.bulk_threshold)
        report.bulk, report.topic_sink = plan.bulk, plan.topic_sink
        if dry_run:
            report.published = len(payments) if plan.topic_sink else 0
            return report
        to_topic: list[tuple[Payment, str]] = []
        letters: list[tuple[Payment, str, str]] = []
        if plan.bulk:
            outcome = await self._bulk(payments)
            report.bulk_jobs, report.salesforce_calls = outcome.job_ids, outcome.calls
            report.bulk_processed = outcome.processed
            by_id = {p.transaction_id: p for p in payments}
            ext = self.mapping.salesforce.external_id_field
            for row in outcome.failed:
                letters.append((by_id[row[ext]], row_error(row), _code(row_error(row))))
            for row in outcome.unprocessed:
                to_topic.append((by_id[row[ext]], "salesforce"))
            report.bulk_failed, report.bulk_unprocessed = (
                len(outcome.failed),
                len(outcome.unprocessed),
            )
        if plan.topic_sink is not None:
            to_topic += [(p, plan.topic_sink) for p in payments]
        await self._publish(report.backfill_id, to_topic, letters)
        report.published = len(to_topic)
        return report

    async def _bulk(self, payments: list[Payment]) -> BulkOutcome:
        sf = self.mapping.salesforce
        records = [payment_record(p, self.mapping) for p in payments]
        async with self.salesforce() as client:
            return await BulkIngest(client).upsert(sf.object, sf.external_id_field, records)

    async def _publish(
        self,
        backfill_id: str,
        to_topic: list[tuple[Payment, str]],
        letters: list[tuple[Payment, str, str]],
    ) -> None:
        if not to_topic and not letters:
            return
        producer = AIOKafkaProducer(
            **aiokafka_options(self.kafka, resolve_bootstrap(self.kafka)),
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
        )
        payments_topic = topic_name(self.kafka, "payments")
        version = version_header(self.mapping)
        await producer.start()
        try:
            pending: list[Any] = []
            for payment, sink in to_topic:
                headers = [*replay_headers(None, backfill_id, sink), version]
                value = payment.model_dump_json().encode()
                key = payment.transaction_id.encode()
                pending.append(await producer.send(payments_topic, value, key=key, headers=headers))
            for payment, error, code in letters:
                pending.append(await self._dead_letter(producer, payment, error, code))
            for future in pending:
                await future
        finally:
            await producer.stop()

    async def _dead_letter(
        self,
        producer: AIOKafkaProducer,
        payment: Payment,
        error: str,
        code: str,
    ) -> Any:
        key = payment.transaction_id.encode()
        payments_topic = topic_name(self.kafka, "payments")
        # The payment as the sink would have read it, so `replay deadletters` can re-drive it.
        record = Incoming(key, payment.model_dump_json().encode(), (), payments_topic)
        letter = build(
            record,
            agent=AGENT,
            reason=f"salesforce:{code}",
            error=f"Bulk API 2.0: {error}",
            payload_limit=self.payload_limit,
        )
        headers = [
            ("paystream-reason", letter.reason.encode()),
            ("paystream-agent", AGENT.encode()),
            ("paystream-source-topic", payments_topic.encode()),
            version_header(self.mapping),
        ]
        return await producer.send(
            topic_name(self.kafka, "deadletter"),
            letter.model_dump_json().encode(),
            key=key,
            headers=headers,
        )


def _code(error: str) -> str:
    """``REQUIRED_FIELD_MISSING:...`` -> ``REQUIRED_FIELD_MISSING`` (a stable reason)."""
    return error.split(":", 1)[0].strip() or "bulk_failed"
