"""The pipeline in one list: which flow reads which topic and writes which. This list is the
registry: wiring, metric labels, ``replay --sink`` choices, ``paystream topology`` and the
dashboards generator are all derived from it. Adding a flow is one class plus one entry here
(docs/architecture.md).

Rules that keep Faust's exactly_once honest here: every topic has the same partition count,
keys are carried unchanged from topic to topic (the PayTrace transaction id), and every topic
an agent writes is read by an agent of this app (Faust picks the transactional producer by the
destination partition's group).

Lanes: each entry runs in a lane ("core" unless it says otherwise). The Sage Pro sinks have
one of their own, so a slow or failing Sage Pro slows only them: a worker started with
``PAYSTREAM_WORKER_LANES=sagepro`` (``paystream worker --lanes sagepro``) is a consumer group
of its own (``group_id``), with its own offsets, changelogs and leader, and a worker of the
other lanes never waits for it. A worker runs every lane by default, in the plain app id.
"""

from __future__ import annotations

from agents.charge_agent import ChargeAgent
from agents.charge_trigger import ChargeTrigger
from agents.deadletter_monitor import DeadLetterMonitor
from agents.dispute_sagepro import SageProDisputeSink
from agents.dispute_salesforce import SalesforceDisputeSink
from agents.normalizer import PaymentNormalizer
from agents.paytrace_source import PayTracePoller
from agents.risk_actions import RiskActionSink
from agents.risk_scorer import PaymentRiskScorer, RiskKeyer
from agents.sagepro_sink import SageProPaymentSink
from agents.salesforce_cdc_source import SalesforceCdcSource
from agents.salesforce_sink import SalesforcePaymentSink
from agents.settlement_reconciler import SettlementReconciler
from agents.settlement_source import SettlementPoller
from agents.subscription_scheduler import SubscriptionScheduler
from stream.runtime.spec import CORE_LANE, BudgetRole, FlowSpec
from stream.settings import KafkaSettings, WorkerSettings
from stream.topic_names import (
    CDC_POSITION_TOPIC,
    POSITION_TOPICS,
    TOPICS,
    WATERMARK_TOPIC,
    topic_name,
)
from stream.topics import TopicSpec, faust_internal_topics

__all__ = [
    "FLOWS",
    "LANES",
    "POSITION_TOPICS",
    "RISK_FLOWS",
    "TABLES",
    "TOPICS",
    "WATERMARK_TOPIC",
    "flows_for",
    "group_id",
    "lanes_of",
    "topic_name",
]

FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        "paytrace_poller",
        PayTracePoller,
        reads=("PayTrace API: /v1/transactions/export/by_date_range",),
        writes=("paytrace_raw", WATERMARK_TOPIC),
        dashboard="paytrace",
    ),
    FlowSpec(
        "payment_normalizer",
        PaymentNormalizer,
        reads=("paytrace_raw",),
        writes=("payments", "deadletter"),
        tables=("payment-state",),
        dashboard="paytrace",
    ),
    FlowSpec(
        "salesforce_payment_sink",
        SalesforcePaymentSink,
        reads=("payments",),
        writes=("Salesforce: composite/sobjects Payment__c upsert", "deadletter"),
        replay_sink="salesforce",
        dashboard="salesforce",
        salesforce_budget=BudgetRole.FILL,  # urgent, in collections: fuller calls when tight
    ),
    FlowSpec(
        "sagepro_payment_sink",
        SageProPaymentSink,
        reads=("payments",),
        writes=("Sage Pro: /api/payments, /api/journalentries", "deadletter"),
        replay_sink="sagepro",
        dashboard="sagepro",
        lane="sagepro",  # ~3 calls per payment: it must not hold back Salesforce
    ),
    FlowSpec(
        "salesforce_cdc_source",
        SalesforceCdcSource,
        reads=(
            "Salesforce Pub/Sub API: /data/OpportunityChangeEvent, /data/OrderChangeEvent, "
            "/data/Subscription__ChangeEvent",
        ),
        writes=("salesforce_cdc", CDC_POSITION_TOPIC),
        dashboard="salesforce",
    ),
    FlowSpec(
        "charge_trigger",
        ChargeTrigger,
        reads=("salesforce_cdc",),
        writes=("charge_commands", "deadletter"),
        dashboard="salesforce",
    ),
    FlowSpec(
        "subscription_scheduler",
        SubscriptionScheduler,
        reads=("salesforce_cdc",),  # and a timer on the billing clock (PAYSTREAM_CLOCK_*)
        writes=("charge_commands", "deadletter"),
        tables=("subscription-state",),
        dashboard="billing",
    ),
    FlowSpec(
        "charge_agent",
        ChargeAgent,
        reads=("charge_commands",),
        writes=(
            "PayTrace: /v1/transactions/sale/by_customer",
            "Salesforce: Opportunity/Order status, Subscription__c billing state, Task, Case",
            "Sage Pro: /api/customers, /api/invoices",
            "deadletter",
        ),
        tables=("charge-ledger",),
        dashboard="paytrace",
        salesforce_budget=BudgetRole.URGENT,  # money: never held back
    ),
    FlowSpec(
        "settlement_poller",
        SettlementPoller,
        reads=("PayTrace API: /v1/batches/export",),
        writes=("paytrace_settlements", WATERMARK_TOPIC),
        dashboard="paytrace",
    ),
    FlowSpec(
        "settlement_reconciler",
        SettlementReconciler,
        reads=("paytrace_settlements",),
        writes=(
            "Salesforce: Settlement__c upsert (reads Payment__c by SOQL IN)",
            "Sage Pro: /api/journalentries (reads /api/payments)",
            "deadletter",
        ),
        dashboard="paytrace",
        salesforce_budget=BudgetRole.PAUSE,  # a daily batch: hours late is still on time
    ),
    FlowSpec(
        "salesforce_dispute_sink",
        SalesforceDisputeSink,
        reads=("disputes",),
        writes=(
            "Salesforce: Payment__c status, Case by Dispute_Case_Id__c (reads Payment__c)",
            "deadletter",
        ),
        tables=("dispute-cases",),
        dashboard="salesforce",
        salesforce_budget=BudgetRole.URGENT,  # few, with response deadlines
    ),
    FlowSpec(
        "sagepro_dispute_sink",
        SageProDisputeSink,
        reads=("disputes",),
        writes=("Sage Pro: /api/payments, /api/creditmemos, /api/journalentries", "deadletter"),
        dashboard="sagepro",
        lane="sagepro",
    ),
    FlowSpec(
        "risk_keyer",
        RiskKeyer,
        reads=("payments",),
        writes=("payments_by_customer", "deadletter"),
        dashboard="risk",
    ),
    FlowSpec(
        "payment_risk_scorer",
        PaymentRiskScorer,
        reads=("payments_by_customer",),
        writes=("payments_risk", "deadletter"),
        tables=("risk-state",),
        dashboard="risk",
    ),
    FlowSpec(
        "risk_action_sink",
        RiskActionSink,
        reads=("payments_risk",),
        writes=(
            "Salesforce: Payment__c Risk_Score__c/Risk_Reasons__c, Case by Risk_Case_Key__c",
            "deadletter",
        ),
        dashboard="risk",
        salesforce_budget=BudgetRole.PAUSE,  # a review aid: waits for the budget
    ),
    FlowSpec(
        "deadletter_monitor",
        DeadLetterMonitor,
        reads=("deadletter",),
        writes=("metric paystream_dead_letters_total",),
    ),
)


# The flows `PAYSTREAM_RISK_SCORING=false` leaves out of a worker (nothing else reads what
# they write). Their topics and the risk-state changelog are still created, so turning scoring
# on later needs nothing but the setting.
RISK_FLOWS = ("risk_keyer", "payment_risk_scorer", "risk_action_sink")


# Every lane, in the order the flows first name them (the core lane first).
LANES: tuple[str, ...] = tuple(dict.fromkeys((CORE_LANE, *(flow.lane for flow in FLOWS))))


class LaneError(ValueError):
    """A worker's lanes cannot run: a lane no flow is in, or a lane set exactly_once refuses."""


def lanes_of(worker: WorkerSettings) -> tuple[str, ...]:
    """The lanes a worker runs, in ``LANES`` order; all of them unless it names some."""
    unknown = [lane for lane in worker.worker_lanes if lane not in LANES]
    if unknown:
        raise LaneError(
            f"PAYSTREAM_WORKER_LANES names unknown lane(s) {', '.join(unknown)}; "
            f"the lanes are {', '.join(LANES)} (or all)"
        )
    chosen = set(worker.worker_lanes or LANES)
    lanes = tuple(lane for lane in LANES if lane in chosen)
    if worker.processing_guarantee == "exactly_once" and lanes != LANES:
        # Faust sends a topic transactionally only if an agent of the same app reads it.
        flows = [flow for flow in FLOWS if flow.lane in chosen]
        read = {r for flow in flows for r in flow.reads}
        unread = sorted({w for flow in flows for w in flow.writes if w in TOPICS} - read)
        if unread:
            raise LaneError(
                f"lanes {', '.join(lanes)} write {', '.join(unread)} without reading it, which "
                "exactly_once cannot do in a group of its own: run every lane or at_least_once"
            )
    return lanes


def group_id(worker: WorkerSettings) -> str:
    """The Faust app id, and so the consumer group, of a worker: the plain app id when it runs
    every lane or the core lane alone (so splitting a deployment into lanes keeps the core's
    offsets, tables and leader), ``<app_id>-lane-<lane>[-<lane>...]`` for any other set."""
    lanes = lanes_of(worker)
    if lanes in (LANES, (CORE_LANE,)):
        return worker.app_id
    return f"{worker.app_id}-lane-{'-'.join(lanes)}"


def flows_for(worker: WorkerSettings) -> tuple[FlowSpec, ...]:
    """The entries a worker with these settings runs: ``stream.pipeline.build`` attaches these
    and only these (the flows of its lanes; without the risk flows when scoring is off)."""
    lanes = lanes_of(worker)
    return tuple(
        flow
        for flow in FLOWS
        if flow.lane in lanes and (worker.risk_scoring or flow.name not in RISK_FLOWS)
    )


def flow_named(cls: type) -> str:
    """The topology name of a flow class (one entry per class)."""
    return next(flow.name for flow in FLOWS if flow.cls is cls)


# The sink names `paystream replay payments --sink` takes, and that replay headers name.
REPLAY_SINKS = tuple(flow.replay_sink for flow in FLOWS if flow.replay_sink)

TABLES = tuple(table for flow in FLOWS for table in flow.tables)


def topic_specs(kafka: KafkaSettings, worker: WorkerSettings) -> list[TopicSpec]:
    """Every topic a worker needs, created up front with the configured partitions. The
    changelogs are those of its lanes' tables (whether risk scoring is on or not), named by its
    group; the leader-election topic too."""
    specs = [TopicSpec(topic_name(kafka, logical)) for logical in TOPICS]
    for position in POSITION_TOPICS:
        specs.append(TopicSpec(topic_name(kafka, position), compacted=True, partitions=1))
    lanes = lanes_of(worker)
    tables = [table for flow in FLOWS if flow.lane in lanes for table in flow.tables]
    specs.extend(faust_internal_topics(group_id(worker), tables))
    return specs


def describe(kafka: KafkaSettings | None = None) -> str:
    """A plain-text drawing of the topology (``paystream topology``)."""
    kafka = kafka or KafkaSettings()

    def show(name: str) -> str:
        internal = name in TOPICS or name in POSITION_TOPICS
        return topic_name(kafka, name) if internal else name

    lines = []
    for flow in FLOWS:
        lines.append(f"[{flow.kind}] {flow.name} (lane {flow.lane})")
        lines.extend(f"    <- {show(r)}" for r in flow.reads)
        lines.extend(f"    -> {show(w)}" for w in flow.writes)
        lines.extend(f"    table {t}" for t in flow.tables)
    return "\n".join(lines)
