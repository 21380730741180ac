"""Which agent reads which topic and writes which: the whole pipeline in one place.

Rules that keep Faust's exactly_once honest here: every topic has the same partition count,
keys are carried unchanged from topic to topic (the PayTrace transaction id), and every topic
an agent writes is read by an agent of this app (Faust picks the transactional producer by the
destination partition's group).
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.settings import KafkaSettings, WorkerSettings
from stream.topics import TopicSpec, faust_internal_topics


@dataclass(frozen=True)
class Flow:
    agent: str
    kind: str  # source | stream | sink
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    tables: tuple[str, ...] = ()


# Logical topic name -> suffix after the configured prefix.
TOPICS = {
    "paytrace_raw": "paytrace.transactions.raw",
    "payments": "payments",
    "deadletter": "deadletter",
    "salesforce_cdc": "salesforce.cdc",
    "charge_commands": "charges.commands",
    "paytrace_settlements": "paytrace.settlements",  # key: batch number
}
# compacted, written by the sources outside Faust: the transaction poll's watermark and the
# settlement poll's (one key each)
WATERMARK_TOPIC = "paytrace.watermark"
CDC_POSITION_TOPIC = "salesforce.cdc.position"  # compacted: replay id per CDC channel
POSITION_TOPICS = (WATERMARK_TOPIC, CDC_POSITION_TOPIC)  # one partition each
TABLES = ("payment-state", "charge-ledger")

FLOWS: tuple[Flow, ...] = (
    Flow(
        "paytrace_poller",
        "source",
        reads=("PayTrace API: /v1/transactions/export/by_date_range",),
        writes=("paytrace_raw", WATERMARK_TOPIC),
    ),
    Flow(
        "payment_normalizer",
        "stream",
        reads=("paytrace_raw",),
        writes=("payments", "deadletter"),
        tables=("payment-state",),
    ),
    Flow(
        "salesforce_payment_sink",
        "sink",
        reads=("payments",),
        writes=("Salesforce: composite/sobjects Payment__c upsert", "deadletter"),
    ),
    Flow(
        "sagepro_payment_sink",
        "sink",
        reads=("payments",),
        writes=("Sage Pro: /api/payments, /api/journalentries", "deadletter"),
    ),
    Flow(
        "salesforce_cdc_source",
        "source",
        reads=("Salesforce Pub/Sub API: /data/OpportunityChangeEvent, /data/OrderChangeEvent",),
        writes=("salesforce_cdc", CDC_POSITION_TOPIC),
    ),
    Flow(
        "charge_trigger",
        "stream",
        reads=("salesforce_cdc",),
        writes=("charge_commands", "deadletter"),
    ),
    Flow(
        "charge_agent",
        "sink",
        reads=("charge_commands",),
        writes=(
            "PayTrace: /v1/transactions/sale/by_customer",
            "Salesforce: Opportunity/Order status, Task, Case",
            "Sage Pro: /api/customers, /api/invoices",
            "deadletter",
        ),
        tables=("charge-ledger",),
    ),
    Flow(
        "settlement_poller",
        "source",
        reads=("PayTrace API: /v1/batches/export",),
        writes=("paytrace_settlements", WATERMARK_TOPIC),
    ),
    Flow(
        "settlement_reconciler",
        "sink",
        reads=("paytrace_settlements",),
        writes=(
            "Salesforce: Settlement__c upsert (reads Payment__c by SOQL IN)",
            "Sage Pro: /api/journalentries (reads /api/payments)",
            "deadletter",
        ),
    ),
    Flow(
        "deadletter_monitor",
        "sink",
        reads=("deadletter",),
        writes=("metric paystream_dead_letters_total",),
    ),
)


def topic_name(kafka: KafkaSettings, logical: str) -> str:
    return f"{kafka.topic_prefix}.{TOPICS.get(logical, logical)}"


def topic_specs(kafka: KafkaSettings, worker: WorkerSettings) -> list[TopicSpec]:
    """Every topic a worker needs, created up front with the configured partitions."""
    specs = [TopicSpec(topic_name(kafka, logical)) for logical in TOPICS]
    for position in POSITION_TOPICS:
        specs.append(TopicSpec(topic_name(kafka, position), compacted=True, partitions=1))
    specs.extend(faust_internal_topics(worker.app_id, TABLES))
    return specs


def describe(kafka: KafkaSettings | None = None) -> str:
    """A plain-text drawing of the topology (``paystream topology``)."""
    kafka = kafka or KafkaSettings()

    def show(name: str) -> str:
        internal = name in TOPICS or name in POSITION_TOPICS
        return topic_name(kafka, name) if internal else name

    lines = []
    for flow in FLOWS:
        lines.append(f"[{flow.kind}] {flow.agent}")
        lines.extend(f"    <- {show(r)}" for r in flow.reads)
        lines.extend(f"    -> {show(w)}" for w in flow.writes)
        lines.extend(f"    table {t}" for t in flow.tables)
    return "\n".join(lines)
