"""Recurring billing metrics, on the workers' registry (stream/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from schemas.collection import LedgerEntry, LedgerState
from stream.metrics import REGISTRY

PERIODS = Counter(
    "paystream_subscription_periods_total",
    "Subscription charge attempts and their outcomes: due (emitted), charged, declined, "
    "failed, dunning (a period's first failure), recovered (paid after a failure), suspended.",
    ["outcome"],
    registry=REGISTRY,
)
REVENUE_AT_RISK = Gauge(
    "paystream_subscription_revenue_at_risk",
    "Sum of the amounts of this worker's subscriptions in dunning (Past Due or Suspended).",
    registry=REGISTRY,
)
OUTCOMES = (
    "due",
    "duplicate",  # a command for a key the ledger holds final (a resend, a replay)
    "charged",
    "declined",
    "failed",
    "dunning",
    "recovered",
    "suspended",
)
for _outcome in OUTCOMES:
    PERIODS.labels(_outcome)

_LABEL = {
    LedgerState.DONE: "charged",
    LedgerState.DECLINED: "declined",
    LedgerState.NO_PAYMENT_METHOD: "failed",
    LedgerState.FAILED: "failed",
}


def count_outcome(entry: LedgerEntry) -> None:
    label = _LABEL.get(entry.state)
    if label:
        PERIODS.labels(label).inc()
