"""Every Prometheus metric paystream exports, defined once at import.

Names follow Prometheus conventions (unit suffix, ``_total`` for counters). Workers each serve
their own registry at ``/metrics``; Prometheus adds ``instance``, so workers never collide.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from connectors.base.observer import set_observer
from stream.running_flow import running_flow

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EVENTS_IN = Counter(
    "paystream_events_in_total", "Events an agent received.", ["agent"], registry=REGISTRY
)
EVENTS_OUT = Counter(
    "paystream_events_out_total",
    "Events an agent emitted or delivered.",
    ["agent"],
    registry=REGISTRY,
)
EVENTS_FAILED = Counter(
    "paystream_events_failed_total",
    "Events an agent could not process.",
    ["agent"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "paystream_processing_seconds",
    "Time an agent spent on one event or batch.",
    ["agent"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SINK_BATCH_SIZE = Histogram(
    "paystream_sink_batch_size",
    "Records per sink batch.",
    ["sink"],
    buckets=(1, 5, 10, 25, 50, 100, 150, 200),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "paystream_consumer_lag_messages",
    "Messages behind the end of each partition.",
    ["topic", "partition"],
    registry=REGISTRY,
)
EXTERNAL_CALLS = Counter(
    "paystream_external_calls_total",
    "Calls to external APIs by outcome.",
    ["system", "endpoint", "outcome"],
    registry=REGISTRY,
)
FLOW_API_CALLS = Counter(
    "paystream_flow_api_calls_total",
    "API calls each flow made that the remote system meters (Salesforce: REST calls, not "
    "token requests or Pub/Sub); flow 'worker' is what no flow made (budget, probes).",
    ["system", "flow"],
    registry=REGISTRY,
)
EXTERNAL_CALL_SECONDS = Histogram(
    "paystream_external_call_seconds",
    "Latency of external API calls.",
    ["system", "endpoint"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
EXTERNAL_RETRIES = Counter(
    "paystream_external_retries_total",
    "Retries of external API calls.",
    ["system", "endpoint"],
    registry=REGISTRY,
)
EXTERNAL_THROTTLED = Counter(
    "paystream_external_throttled_total",
    "Calls refused for rate or quota limits.",
    ["system"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "paystream_dead_letters_total",
    "Records parked on a dead-letter topic.",
    ["topic", "reason"],
    registry=REGISTRY,
)
SALESFORCE_API_USED = Gauge(
    "paystream_salesforce_api_requests_used",
    "Salesforce API requests used (Sforce-Limit-Info).",
    registry=REGISTRY,
)
SALESFORCE_API_LIMIT = Gauge(
    "paystream_salesforce_api_requests_limit",
    "Salesforce API request limit (Sforce-Limit-Info).",
    registry=REGISTRY,
)
SALESFORCE_API_USAGE_RATIO = Gauge(
    "paystream_salesforce_api_usage_ratio",
    "Share of the org's daily API requests used (Sforce-Limit-Info used / limit).",
    registry=REGISTRY,
)
# stream/runtime/api_budget.py: 1 while a flow is slowed (paused, or filling collections)
# because usage is above PAYSTREAM_SALESFORCE_API_BUDGET_SHARE.
API_BUDGET_THROTTLED = Gauge(
    "paystream_api_budget_throttled",
    "1 while the flow is slowed down to save the Salesforce daily API budget.",
    ["flow"],
    registry=REGISTRY,
)
PAYTRACE_WATERMARK_LAG = Gauge(
    "paystream_paytrace_watermark_lag_seconds",
    "How far the PayTrace poll watermark trails now.",
    registry=REGISTRY,
)
CHARGES = Counter(
    "paystream_charges_total", "Charge commands by outcome.", ["outcome"], registry=REGISTRY
)
LEDGER_PENDING = Gauge(
    "paystream_ledger_pending_keys", "Charge ledger keys still PENDING.", registry=REGISTRY
)
LEDGER_OLDEST_PENDING = Gauge(
    "paystream_ledger_oldest_pending_seconds",
    "Age of the oldest charge ledger key still PENDING (0 when none is).",
    registry=REGISTRY,
)
STALLS_RECOVERED = Counter(
    "paystream_partition_stalls_recovered_total",
    "Partitions found stuck below their end with nothing in progress, and read again.",
    ["topic"],
    registry=REGISTRY,
)
SETTLEMENT_BATCHES = Counter(
    "paystream_settlement_batches_total",
    "PayTrace settlement batches reconciled, by outcome (reconciled, mismatch, dead_letter).",
    ["outcome"],
    registry=REGISTRY,
)
SETTLEMENT_MISMATCHES = Counter(
    "paystream_settlement_mismatched_transactions_total",
    "Settled transactions that did not match Salesforce or Sage Pro, by kind.",
    ["kind"],
    registry=REGISTRY,
)

# Known, finite label values exported as 0 from the start: a dashboard then shows "0 declined"
# and an alert's ratio has a denominator, instead of "no data" until the first event.
CHARGE_OUTCOMES = (
    "requested",
    "charged",
    "declined",
    "failed",
    "payment_method_required",
    "duplicate",
)
EXTERNAL_SYSTEMS = ("paytrace", "salesforce", "sagepro")
SETTLEMENT_OUTCOMES = ("reconciled", "mismatch", "dead_letter")
SETTLEMENT_MISMATCH_KINDS = ("missing_in_salesforce", "missing_in_sagepro", "amount_differs")
for _outcome in CHARGE_OUTCOMES:
    CHARGES.labels(_outcome)
for _system in EXTERNAL_SYSTEMS:
    EXTERNAL_THROTTLED.labels(_system)
for _outcome in SETTLEMENT_OUTCOMES:
    SETTLEMENT_BATCHES.labels(_outcome)
for _kind in SETTLEMENT_MISMATCH_KINDS:
    SETTLEMENT_MISMATCHES.labels(_kind)


def render() -> bytes:
    return generate_latest(REGISTRY)


def metered_call(endpoint: str) -> bool:
    """Whether the remote system counts this call against its API limits: a token request
    (``oauth2.token``, PayTrace's ``/oauth/token``) or a Pub/Sub stream is not a REST call."""
    return not endpoint.startswith("pubsub.") and not endpoint.endswith("token")


class PrometheusObserver:
    """The connectors' reports (connectors/base/observer.py) as the metrics above."""

    def call(self, system: str, endpoint: str, outcome: str, seconds: float | None) -> None:
        EXTERNAL_CALLS.labels(system, endpoint, outcome).inc()
        if metered_call(endpoint):
            FLOW_API_CALLS.labels(system, running_flow()).inc()
        if seconds is not None:
            EXTERNAL_CALL_SECONDS.labels(system, endpoint).observe(seconds)

    def retry(self, system: str, endpoint: str) -> None:
        EXTERNAL_RETRIES.labels(system, endpoint).inc()

    def throttled(self, system: str) -> None:
        EXTERNAL_THROTTLED.labels(system).inc()

    def salesforce_limits(self, used: int, limit: int) -> None:
        SALESFORCE_API_USED.set(used)
        SALESFORCE_API_LIMIT.set(limit)
        if limit > 0:
            SALESFORCE_API_USAGE_RATIO.set(used / limit)


def install_connector_observer() -> None:
    """Route every connector client's reports in this process to these metrics."""
    set_observer(PrometheusObserver())


# Importing the metrics is enough for connector calls to count (as before the observer).
install_connector_observer()

# Charge commands refused before any money moved (agents/charge_trigger.py ChargeRefused):
# any at all means a forged command, a stale trigger or a record that changed meanwhile.
CHARGES_REFUSED = Counter(
    "paystream_charges_refused_total",
    "Charge commands refused after checking Salesforce's current state, by reason.",
    ["reason"],
    registry=REGISTRY,
)
CHARGE_REFUSALS = (
    "unknown_trigger",
    "malformed_key",
    "record_not_found",
    "trigger_not_current",
    "already_paid",
    "no_amount",
    "amount_mismatch",
)
for _reason in CHARGE_REFUSALS:
    CHARGES_REFUSED.labels(_reason)

# Disputes (agents/dispute_salesforce.py): notifications processed by stage, and open cases
# whose response is due within PAYSTREAM_DISPUTE_DUE_SOON_DAYS (per worker: sum them).
DISPUTES = Counter(
    "paystream_disputes_total",
    "Dispute notifications applied to Salesforce, by stage.",
    ["stage"],
    registry=REGISTRY,
)
DISPUTES_DUE_SOON = Gauge(
    "paystream_disputes_due_soon",
    "Open disputes (retrieval request, chargeback) whose response is due soon or overdue.",
    registry=REGISTRY,
)
DISPUTE_STAGES = ("retrieval_request", "chargeback", "representment", "won", "lost", "reversed")
for _stage in DISPUTE_STAGES:
    DISPUTES.labels(_stage)

# Streaming risk scoring (agents/risk_scorer.py): every score, and those at or above the
# mapping's risk.review_threshold (each gets a review Case from agents/risk_actions.py).
RISK_SCORE = Histogram(
    "paystream_risk_score",
    "Risk scores of payments (0 = nothing unusual, 1 = certainly suspicious).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
    registry=REGISTRY,
)
RISK_HIGH = Counter(
    "paystream_risk_high_total",
    "Payments scored at or above the review threshold.",
    registry=REGISTRY,
)
