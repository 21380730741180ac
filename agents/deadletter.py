"""Parking records that cannot succeed, with the reason, and counting them.

The dead-letter topic is keyed like its source (so it is co-partitioned and part of the same
exactly_once transaction); the reason travels in headers for tools that do not parse values.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust
import orjson

from schemas.deadletter import DeadLetter
from stream import metrics
from stream.pci import redact, redact_text

log = logging.getLogger(__name__)


def _payload_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            return orjson.dumps(redact(orjson.loads(value))).decode()
        except orjson.JSONDecodeError:
            return redact_text(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, str):
        return redact_text(value)
    return orjson.dumps(redact(value), default=str).decode()


async def dead_letter(
    topic: faust.TopicT,
    *,
    agent: str,
    reason: str,
    error: str,
    value: Any,
    key: bytes | str | None,
    source_topic: str,
    partition: int | None = None,
    offset: int | None = None,
) -> None:
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    record = DeadLetter(
        source_topic=source_topic,
        source_partition=partition,
        source_offset=offset,
        key=key_text,
        agent=agent,
        reason=reason,
        error=redact_text(error)[:2000],
        payload=_payload_text(value),
        at=datetime.now(UTC),
    )
    headers = {
        "paystream-reason": reason.encode(),
        "paystream-agent": agent.encode(),
        "paystream-source-topic": source_topic.encode(),
    }
    await topic.send(
        key=key_text.encode() if key_text is not None else None,
        value=record.model_dump_json().encode(),
        headers=headers,
    )
    metrics.EVENTS_FAILED.labels(agent).inc()
    log.warning("dead-lettered %s from %s: %s (%s)", key_text, source_topic, reason, record.error)


def from_event(event: faust.EventT) -> dict[str, Any]:
    """Source coordinates of a Faust event, for ``dead_letter``."""
    message = event.message
    return {
        "key": message.key,
        "value": message.value,
        "source_topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
    }
