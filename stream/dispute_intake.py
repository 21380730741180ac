"""What the push ingress and the report import share: a dispute from untrusted fields, card
data kept out, and a publisher that answers only once the broker acknowledged the record.

Ids (case, transaction, reason code) that read as a card number are refused, not masked: a
masked id names nothing and would key the topic. Free text (the reason) is redacted.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from schemas.dispute import Dispute
from stream.kafka import aiokafka_options
from stream.pci import redact_text
from stream.settings import KafkaSettings
from stream.topic_names import topic_name

ID_FIELDS = ("case_id", "transaction_id", "reason_code")
TEXT_FIELDS = ("reason",)
# Headers on every record we publish: who sent it (never a secret or a signature).
SOURCE_HEADER = "paystream-dispute-source"


class IntakeRefused(ValueError):
    """The fields are not a dispute; ``reason`` is a stable label, ``detail`` is redacted."""

    def __init__(self, reason: str, detail: str) -> None:
        detail = redact_text(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def short_errors(exc: ValidationError, limit: int = 3) -> str:
    """Which fields are wrong, never their values (they may be card data)."""
    parts = [f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors()[:limit]]
    return "; ".join(parts)


def dispute_from(
    fields: dict[str, Any], *, source: str, received: datetime | None = None
) -> Dispute:
    """A validated, redacted ``Dispute``; raises ``IntakeRefused``."""
    values = dict(fields)
    for name in ID_FIELDS:
        value = values.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = values[name] = str(value)
        if isinstance(value, str) and redact_text(value) != value:
            raise IntakeRefused("card_number_in_id", name)
    for name in TEXT_FIELDS:
        if isinstance(values.get(name), str):
            values[name] = redact_text(values[name])
    values.setdefault("received_at", received or datetime.now(UTC))
    values["source"] = source
    try:
        return Dispute.model_validate(values)
    except ValidationError as exc:
        raise IntakeRefused("schema", short_errors(exc)) from exc


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge in time: nothing is known to be written."""


class AckedPublisher:
    """``send`` returns once acks=all answered; anything else is ``BrokerUnavailable``."""

    def __init__(self, kafka: KafkaSettings, bootstrap: str, timeout_seconds: float = 10.0):
        self.kafka = kafka
        self.timeout = timeout_seconds
        self._producer = AIOKafkaProducer(
            **aiokafka_options(kafka, bootstrap),
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=int(timeout_seconds * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(
        self, logical: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        send = self._producer.send_and_wait(
            topic_name(self.kafka, logical), key=key, value=value, headers=headers
        )
        try:
            await asyncio.wait_for(send, self.timeout)
        except Exception as exc:  # a timeout or any Kafka error: the sender tries again
            raise BrokerUnavailable(type(exc).__name__) from exc


class DisputePublisher(AckedPublisher):
    """Disputes keyed by the disputed transaction id."""

    @property
    def topic(self) -> str:
        return topic_name(self.kafka, "disputes")

    async def publish(self, dispute: Dispute) -> None:
        await self.send(
            "disputes",
            dispute.transaction_id.encode(),
            dispute.model_dump_json().encode(),
            [(SOURCE_HEADER, dispute.source.encode())],
        )
