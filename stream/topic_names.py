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
}
# compacted, written by the sources outside Faust: the transaction poll's watermark and the
# settlement poll's (one key each)
WATERMARK_TOPIC = "paytrace.watermark"
CDC_POSITION_TOPIC = "salesforce.cdc.position"  # compacted: replay id per CDC channel
POSITION_TOPICS = (WATERMARK_TOPIC, CDC_POSITION_TOPIC)  # one partition each


def topic_name(kafka: KafkaSettings, logical: str) -> str:
    return f"{kafka.topic_prefix}.{TOPICS.get(logical, logical)}"
