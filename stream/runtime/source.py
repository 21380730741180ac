"""Sources: records from an API into a topic, with the position kept in a compacted topic
(quixstreams' ``Source.run`` model: state is committed with the records it covers).

``Source`` owns the producer (shared with its position store), commits and closing;
``PolledSource`` adds the loop:
``poll(position)`` returns records and the next position, the runtime publishes the records,
waits for the broker's acknowledgement and only then stores the position, so a crash can
cause a re-read, never a gap. One worker of the group polls (the leader); another takes over
from the stored position when it leaves.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from stream import metrics
from stream.mapping_version import version_header
from stream.pci import redact_headers, redact_text
from stream.runtime import flow_metrics
from stream.runtime.base import Flow
from stream.runtime.positions import CompactedPosition, source_producer
from stream.runtime.processor import Emit
from stream.topic_names import topic_name

log = logging.getLogger(__name__)
P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class Polled(Generic[P]):
    records: Sequence[Emit]
    position: P
    fetched: int = 0  # records the API returned (some may not need publishing)


def door_key(key: bytes | None, limit: int) -> bytes | None:
    """Keys are identifiers. Anything else (too long, not printable text, card-like digits)
    goes out as its SHA-256: bounded, the same partition every time, nothing readable."""
    if key is None:
        return None
    text = key.decode("utf-8", "replace")
    if len(key) <= limit and text.isprintable() and redact_text(text) == text:
        return key
    return hashlib.sha256(key).hexdigest().encode()


class Source(Flow):
    """Records from outside into topics. A flow with its own loop (long-lived subscriptions)
    attaches it itself and uses ``commit``; ``PolledSource`` adds a timer loop."""

    kind = "source"
    position_topic: ClassVar[str]  # logical name of the compacted position topic

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.positions = CompactedPosition(
            self.ctx, topic_name(self.ctx.kafka, self.position_topic), producer=self.producer
        )
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:  # several tasks of one source may publish at once
            if self._producer is None:
                self._producer = await source_producer(self.ctx)
        return self._producer

    async def publish(self, records: Sequence[Emit]) -> None:
        """Send and wait until the broker acknowledged every record. Values are the flow's
        to redact (it knows their shape); keys and headers are checked here for all."""
        if not records:
            return
        producer = await self.producer()
        version = version_header(self.ctx.mapping)  # which mapping produced each record
        futures = [
            await producer.send(
                topic_name(self.ctx.kafka, out.topic),
                key=door_key(out.key, self.limits.max_key_bytes),
                value=out.value,
                headers=redact_headers([*out.headers, version]),
            )
            for out in records
        ]
        await asyncio.gather(*futures)

    async def commit(
        self,
        key: str,
        position: BaseModel,
        records: Sequence[Emit] = (),
        *,
        fetched: int | None = None,
        started: float | None = None,
    ) -> None:
        """Publish ``records``, then store ``position`` (it never runs ahead of what Kafka
        holds), then count them. Shielded: a stop between publishing and storing would
        deliver the records again after a restart."""
        saving = asyncio.ensure_future(self._commit(key, position, records))
        try:
            await asyncio.shield(saving)
        except asyncio.CancelledError:
            await saving
            raise
        flow_metrics.received(self.name, len(records) if fetched is None else fetched)
        flow_metrics.delivered(self.name, len(records))
        if started is not None:
            flow_metrics.took(self.name, time.perf_counter() - started)

    async def _commit(self, key: str, position: BaseModel, records: Sequence[Emit]) -> None:
        await self.publish(records)
        await self.positions.put(key, position)

    def failed(self, what: str, exc: BaseException) -> None:
        """Count and log (redacted) a failure that the next attempt resumes from."""
        metrics.EVENTS_FAILED.labels(self.name).inc()
        log.warning("%s: %s: %s", self.name, what, redact_text(repr(exc))[:500])

    async def aclose(self) -> None:
        await self.positions.aclose()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class PolledSource(Source, Generic[P]):
    position_model: ClassVar[type[BaseModel]]
    position_key: ClassVar[str]
    # Read the stored position back only while we hold none (False), or also after a gap of
    # two intervals, when another worker may have led meanwhile (True).
    reread_after_gap: ClassVar[bool] = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.current: P | None = None  # the position of the last committed poll
        self._last_poll = 0.0  # monotonic

    @property
    def interval_seconds(self) -> float:
        raise NotImplementedError

    async def poll(self, position: P | None) -> Polled[P]:
        raise NotImplementedError

    def committed(self, polled: Polled[P]) -> None:  # optional hook
        """Called once the poll's records are acknowledged and its position is stored."""

    def polling_failed(self) -> None:  # optional hook
        """Called when a poll failed (e.g. to let a lag gauge grow)."""

    def attach(self) -> None:
        # on_leader: one worker of the group polls; another takes over if it leaves.
        self.every(self.interval_seconds, self.tick, name=self.name, on_leader=True)

    async def position(self) -> P | None:
        """Ours while we kept polling; read back when another worker may have led meanwhile
        (the timer runs on the leader only, so a gap of two intervals means we were not)."""
        started = time.monotonic()
        if self.reread_after_gap:
            gap = started - self._last_poll
            stale = self._last_poll == 0.0 or gap > 2 * self.interval_seconds
        else:
            stale = self.current is None
        if stale:
            self.positions.forget()
            stored = await self.positions.get(self.position_key, self.position_model)
            self.current = stored  # type: ignore[assignment]
        self._last_poll = started
        return self.current

    async def poll_once(self) -> Polled[P]:
        started = time.perf_counter()
        polled = await self.poll(await self.position())
        await self.commit(
            self.position_key,
            polled.position,
            polled.records,
            fetched=polled.fetched,
            started=started,
        )
        self.current = polled.position
        self.committed(polled)
        return polled

    async def tick(self) -> None:
        try:
            polled = await self.poll_once()
        except Exception as exc:  # the next tick reads from the same position
            self.failed("poll failed, retrying at the next interval", exc)
            self.polling_failed()
            return
        if polled.records:
            log.info("%s: %d fetched, %d published", self.name, polled.fetched, len(polled.records))
