"""Logical topic names and their full names under the configured prefix."""

from __future__ import annotations

from stream.settings import KafkaSettings

# Logical topic name -> suffix after the configured prefix.
TOPICS = {
    "paytrace_raw": "paytrace.transactions.raw",
    "payments": "payments",
    "deadletter": "deadletter",
    "salesforce_cdc": "salesforce.cdc",
    "charge_commands": "charges.commands",
    "paytrace_settlements": "paytrace.settlements",  # key: batch number
    "disputes": "disputes",  # key: the disputed transaction id (schemas/dispute.py)
    "payments_by_customer": "payments.by-customer",  # key: the customer (agents/risk_scorer.py)
    "payments_risk": "payments.risk",  # key: transaction id (schemas/risk.py)
}
# Topics written by paystream processes other than the workers (read by a flow all the same).
EXTERNAL_WRITERS = {"disputes": ("paystream ingress", "paystream disputes import")}
# compacted, written by the sources outside Faust: the transaction poll's watermark and the
# settlement poll's (one key each)
WATERMARK_TOPIC = "paytrace.watermark"
CDC_POSITION_TOPIC = "salesforce.cdc.position"  # compacted: replay id per CDC channel
POSITION_TOPICS = (WATERMARK_TOPIC, CDC_POSITION_TOPIC)  # one partition each


def topic_name(kafka: KafkaSettings, logical: str) -> str:
    return f"{kafka.topic_prefix}.{TOPICS.get(logical, logical)}"
