"""Parking a record that cannot succeed: bounded, redacted, never able to fail on its content.

The dead letter is built from the record's bytes as text (never by walking its structure, which
may be nested thousands deep), cut to a configured size with a hash of the whole original, and
keyed like its source (co-partitioned, part of the same exactly_once transaction). The reason
travels in headers for tools that do not parse values.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust

from schemas.deadletter import DeadLetter
from stream import metrics
from stream.pci import fingerprint, redact_text
from stream.runtime.records import Incoming

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 2000
MAX_REASON_CHARS = 120
MAX_KEY_CHARS = 256


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if value is None:
        return b""
    return str(value).encode("utf-8", "replace")


def bounded_text(data: bytes, limit: int) -> str:
    """At most ``limit`` bytes of ``data`` as redacted text; a cut says how much was kept."""
    cut = data[:limit]
    text = redact_text(cut.decode("utf-8", "replace"))
    if len(data) > limit:
        text += f"... [cut: {limit} of {len(data)} bytes]"
    return text


def build(
    record: Incoming, *, agent: str, reason: str, error: str, payload_limit: int
) -> DeadLetter:
    original = _as_bytes(record.value)
    key = bounded_text(record.key, MAX_KEY_CHARS) if record.key is not None else None
    return DeadLetter(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        key=key,
        agent=agent,
        # Cut, then redacted: cutting a redacted text could leave the head of a longer digit
        # run (which reads as no card number) as a card number of its own.
        reason=redact_text(reason[:MAX_REASON_CHARS]),
        error=redact_text(error[:MAX_ERROR_CHARS]),
        payload=bounded_text(original, payload_limit),
        payload_sha256=fingerprint(original),
        payload_bytes=len(original),
        payload_complete=len(original) <= payload_limit,
        at=datetime.now(UTC),
    )


class DeadLetterWriter:
    """Sends dead letters to the dead-letter topic; counts and logs each (redacted)."""

    def __init__(
        self,
        topic: faust.TopicT,
        payload_limit: int,
        extra_headers: tuple[tuple[str, bytes], ...] = (),
    ) -> None:
        self.topic = topic
        self.payload_limit = payload_limit
        self.extra_headers = extra_headers  # the mapping version, like every record written

    async def send(self, record: Incoming, *, agent: str, reason: str, error: str) -> None:
        letter = build(
            record, agent=agent, reason=reason, error=error, payload_limit=self.payload_limit
        )
        headers = {
            "paystream-reason": letter.reason.encode(),
            "paystream-agent": agent.encode(),
            "paystream-source-topic": record.topic.encode(),
            **dict(self.extra_headers),
        }
        key = letter.key.encode() if letter.key is not None else None
        await self.topic.send(key=key, value=letter.model_dump_json().encode(), headers=headers)
        metrics.EVENTS_FAILED.labels(agent).inc()
        log.warning(
            "dead-lettered %s from %s: %s (%s)",
            letter.key,
            record.where,
            letter.reason,
            redact_text(letter.error[:300]),
        )
