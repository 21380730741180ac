"""Source agent: Salesforce Change Data Capture (Pub/Sub API) -> the CDC topic.

Runs on the leader, one long-lived subscription per change-event channel:
- resumes from the replay id stored in a compacted topic, written only after the events it
  covers are acknowledged by Kafka (the stored position never runs ahead of what Kafka holds);
- a replay id past Salesforce's retention window (72 h) cannot be resumed: the agent logs a
  resync, queries the records changed since the last commit it saw, publishes them as
  ``resync`` changes, and subscribes from the latest event. Charges are idempotent by
  business key, so records seen twice this way are harmless;
- a gap event (``GAP_*``: Salesforce could not send the change's fields) or an overflow event
  (``GAP_OVERFLOW``: no record ids either) is answered the same way: the records it names (or,
  for an overflow, the entity's records changed around it) are queried and published as
  ``RESYNC`` changes beside it, so the trigger decides from the records' current state.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta

import orjson
from pydantic import BaseModel

from connectors.salesforce.ids import is_valid_id
from connectors.salesforce.pubsub.client import PubSubSubscriber
from connectors.salesforce.pubsub.errors import ReplayIdExpired
from connectors.salesforce.pubsub.events import ReceivedEvent, change_event_topic
from connectors.salesforce.soql import literal
from schemas.collection import SalesforceChange
from stream.pci import redact_change
from stream.runtime.processor import Emit
from stream.runtime.source import Source
from stream.topic_names import CDC_POSITION_TOPIC

log = logging.getLogger(__name__)
RESYNC_MARGIN = timedelta(minutes=5)
RESYNC_SETTLE_SECONDS = 2.0
GAP_PREFIX = "GAP_"
SOQL_ID_CHUNK = 200  # ids per ``Id IN (...)``: keeps the GET URL well under 16 KB


class ChannelPosition(BaseModel):
    replay_id: str = ""  # hex
    commit_timestamp: int = 0  # epoch ms of the newest change published
    # After a resync: epoch ms of its query. Once the new subscription is open, one more
    # query from there closes the gap between the first query and the subscription.
    resync_since: int = 0


def change_record(event: ReceivedEvent) -> SalesforceChange:
    header = event.header
    return SalesforceChange(
        topic=event.topic,
        entity=header.entity_name,
        change_type=header.change_type,
        record_ids=list(header.record_ids),
        changed_fields=list(header.changed_fields),
        values={k: v for k, v in event.values.items() if k != "ChangeEventHeader"},
        commit_timestamp=header.commit_timestamp,
        transaction_key=header.transaction_key,
        change_origin=header.change_origin,
        replay_id=event.replay_id.hex(),
        event_id=event.event_id,
    )


def change_key(change: SalesforceChange) -> bytes:
    """The record id when it is one (a record's changes share a partition); else a hash,
    never free text."""
    first = change.record_ids[0] if change.record_ids else change.replay_id
    if is_valid_id(first):
        return first.encode()
    return hashlib.sha256(first.encode()).hexdigest().encode()


class SalesforceCdcSource(Source):
    """Long-lived subscriptions, not a poll: its own 1 s timer keeps them running while this
    worker leads; the runtime's ``commit`` publishes and checkpoints."""

    position_topic = CDC_POSITION_TOPIC

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        collection, subscriptions = self.ctx.mapping.collection, self.ctx.mapping.subscriptions
        self.objects = sorted({t.object for t in collection.triggers} | {subscriptions.object})
        self._subscriber: PubSubSubscriber | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping: set[asyncio.Task[None]] = set()  # cancelled, finishing a checkpoint

    def enabled(self) -> bool:
        return bool(self.ctx.mapping.collection.triggers)

    def attach(self) -> None:
        # Every worker runs the timer; only the leader keeps subscriptions. When leadership
        # moves, the new leader resumes from the stored replay ids.
        self.every(1.0, self._follow_leadership, name=self.name)

    async def _follow_leadership(self) -> None:
        self.ensure_running(self.ctx.app.is_leader())

    def subscriber(self) -> PubSubSubscriber:
        if self._subscriber is None:
            self._subscriber = PubSubSubscriber(
                self.ctx.connectors.salesforce_settings, rest=self.ctx.connectors.salesforce()
            )
        return self._subscriber

    async def aclose(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._stopping, return_exceptions=True)
        self._tasks.clear()
        if self._subscriber is not None:
            await self._subscriber.close()
            self._subscriber = None
        await super().aclose()  # the producer and the position store

    @staticmethod
    def records(changes: list[SalesforceChange]) -> list[Emit]:
        # Free text (Description, NextStep, custom fields) can carry a typed card number.
        safe = [redact_change(change) for change in changes]
        return [
            Emit(
                "salesforce_cdc",
                change_key(change),
                orjson.dumps(change.model_dump(mode="json")),
            )
            for change in safe
        ]

    def ensure_running(self, leader: bool) -> None:
        """Keep one subscription per channel alive while this worker leads; stop it otherwise."""
        for obj in self.objects:
            task = self._tasks.get(obj)
            if leader and (task is None or task.done()):
                ended = task.exception() if task is not None and not task.cancelled() else None
                if ended is not None:
                    self.failed(f"{obj} subscription ended", ended)
                self._tasks[obj] = asyncio.create_task(self.follow(obj))
            elif not leader and task is not None:
                task.cancel()
                self._tasks.pop(obj)
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
                self.positions.forget()

    async def follow(self, obj: str) -> None:
        """Publish ``obj``'s changes until cancelled, checkpointing as they come."""
        channel = change_event_topic(obj)
        stored = await self.positions.get(channel, ChannelPosition)
        position = stored or ChannelPosition()
        replay = bytes.fromhex(position.replay_id) if position.replay_id else None
        pending: list[SalesforceChange] = []
        first_arrived = 0.0  # perf_counter of the oldest pending event: the commit's latency

        async def checkpoint() -> None:
            # The runtime publishes, then stores the position (shielded from a stop between).
            ahead = position.model_copy()
            if pending:
                ahead.replay_id = pending[-1].replay_id
                ahead.commit_timestamp = max(c.commit_timestamp for c in pending)
            started = first_arrived if pending else None
            changes = await self.with_gaps_filled(obj, channel, pending)
            await self.commit(channel, ahead, self.records(changes), started=started)
            position.replay_id, position.commit_timestamp = ahead.replay_id, ahead.commit_timestamp
            pending.clear()

        def keepalive(topic: str, latest: bytes) -> None:
            if not pending:  # only a quiet channel may move on to the keepalive's position
                position.replay_id = latest.hex()

        start = "latest" if position.resync_since else self.ctx.worker.cdc_start
        events = self.subscriber().subscribe(channel, replay, start=start, on_keepalive=keepalive)
        # A pump task owns the stream: cancelling a pending anext() would close the generator.
        queue: asyncio.Queue[ReceivedEvent] = asyncio.Queue(maxsize=500)

        async def pump() -> None:
            async for event in events:
                await queue.put(event)

        pumping = asyncio.create_task(pump())
        if position.resync_since:
            await self.close_resync_gap(obj, channel, position)
        try:
            while True:
                getting = asyncio.ensure_future(queue.get())
                # Publish what arrived as soon as the stream pauses, at most 100 at a time.
                done, _ = await asyncio.wait(
                    {getting, pumping},
                    timeout=0.2 if pending else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getting not in done:
                    getting.cancel()
                    if pumping in done:
                        pumping.result()  # raises what ended the subscription
                        return
                    await checkpoint()
                    continue
                if not pending:
                    first_arrived = time.perf_counter()
                pending.append(change_record(getting.result()))
                if len(pending) >= 100:
                    await checkpoint()
        except ReplayIdExpired as exc:
            pending.clear()
            await self.resync(obj, channel, position, exc)
        finally:
            pumping.cancel()
            with contextlib.suppress(BaseException):
                await pumping

    async def resync(
        self, obj: str, channel: str, position: ChannelPosition, exc: ReplayIdExpired
    ) -> None:
        since = datetime.fromtimestamp(position.commit_timestamp / 1000, UTC) - RESYNC_MARGIN
        self.failed(
            f"stored replay id for {channel} is past retention; resync from "
            f"{since.isoformat()} by query",
            exc,
        )
        queried_at = int(datetime.now(UTC).timestamp() * 1000)
        changes = await self.query_changed(obj, channel, since)
        # Next: subscribe from the newest event, then query once more from ``queried_at``.
        after = ChannelPosition(commit_timestamp=position.commit_timestamp, resync_since=queried_at)
        await self.commit(channel, after, self.records(changes))
        log.warning("%s: resync of %s published %d records", self.name, channel, len(changes))

    async def close_resync_gap(self, obj: str, channel: str, position: ChannelPosition) -> None:
        """With the new subscription open, what changed since the resync query is published;
        anything later arrives as change events. Charges are idempotent: overlap is harmless."""
        await asyncio.sleep(RESYNC_SETTLE_SECONDS)  # let the Subscribe call reach the server
        since = datetime.fromtimestamp(position.resync_since / 1000, UTC) - RESYNC_MARGIN
        changes = await self.query_changed(obj, channel, since)
        closed = position.model_copy(update={"resync_since": 0})
        await self.commit(channel, closed, self.records(changes))
        position.resync_since = 0
        log.warning(
            "%s: resync of %s closed with %d more records", self.name, channel, len(changes)
        )

    async def with_gaps_filled(
        self, obj: str, channel: str, changes: list[SalesforceChange]
    ) -> list[SalesforceChange]:
        """Each gap or overflow event, followed by the current state of what it names."""
        filled: list[SalesforceChange] = []
        for change in changes:
            filled.append(change)
            if not change.change_type.startswith(GAP_PREFIX) or change.entity != obj:
                continue
            if change.change_type == "GAP_OVERFLOW":
                moment = datetime.fromtimestamp(change.commit_timestamp / 1000, UTC)
                found = await self.query_changed(obj, channel, moment - RESYNC_MARGIN)
            else:
                ids = [rid for rid in change.record_ids if is_valid_id(rid)]
                found = await self.query_ids(obj, channel, ids, change.change_type == "GAP_CREATE")
            log.warning(
                "%s: %s on %s: re-queried %d record(s)",
                self.name,
                change.change_type,
                channel,
                len(found),
            )
            filled.extend(found)
        return filled

    def _fields(self, obj: str) -> str:
        collection = self.ctx.mapping.collection
        fields = {"Id", "LastModifiedDate", "CreatedDate"}
        if obj == self.ctx.mapping.subscriptions.object:  # the scheduler needs every field
            return ", ".join(
                sorted(fields | set(self.ctx.mapping.subscriptions.fields.model_dump().values()))
            )
        fields.add(collection.account_field)
        fields |= {t.field for t in collection.triggers if t.object == obj and t.field}
        return ", ".join(sorted(fields))

    async def query_changed(
        self, obj: str, channel: str, since: datetime
    ) -> list[SalesforceChange]:
        stamp = literal(since)
        soql = f"SELECT {self._fields(obj)} FROM {obj} WHERE LastModifiedDate >= {stamp}"  # noqa: S608
        rows = await self.ctx.connectors.salesforce().query(soql)
        return [_resync(channel, obj, row, _created_after(row, since)) for row in rows]

    async def query_ids(
        self, obj: str, channel: str, ids: list[str], created: bool
    ) -> list[SalesforceChange]:
        """The named records as they are now (a deleted one is simply not found)."""
        rows: list[dict[str, object]] = []
        for start in range(0, len(ids), SOQL_ID_CHUNK):
            chunk = ", ".join(literal(rid) for rid in ids[start : start + SOQL_ID_CHUNK])
            soql = f"SELECT {self._fields(obj)} FROM {obj} WHERE Id IN ({chunk})"  # noqa: S608
            rows += await self.ctx.connectors.salesforce().query(soql)
        return [_resync(channel, obj, row, created) for row in rows]


def _resync(channel: str, obj: str, row: dict[str, object], created: bool) -> SalesforceChange:
    return SalesforceChange(
        source="resync",
        topic=channel,
        entity=obj,
        change_type="RESYNC",
        record_ids=[str(row["Id"])],
        values={k: v for k, v in row.items() if v is not None},
        commit_timestamp=int(datetime.now(UTC).timestamp() * 1000),
        created_in_window=created,
    )


def _created_after(row: dict[str, object], since: datetime) -> bool:
    created = str(row.get("CreatedDate") or "")
    if not created:
        return False
    moment = datetime.fromisoformat(created.replace("Z", "+00:00").replace("+0000", "+00:00"))
    return moment >= since
