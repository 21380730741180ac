"""One Subscribe stream of the emulated Pub/Sub API: start point, flow control, keepalives.

- The first FetchRequest names the topic and the start (LATEST, EARLIEST, or CUSTOM after a
  replay id that must still be retained); later requests only add credit.
- The server never has more events in flight than the credit granted (``num_requested``).
- Events come from the store's ``change_events`` (committed rows only: reads hold the store's
  write lock); a commit listener wakes the stream, so delivery follows a REST write at once.
- With nothing to send for ``pubsub_keepalive_seconds`` an empty FetchResponse carries the
  latest replay id the subscriber may safely resume from.
- Events older than ``change_event_retention_hours`` are never served, and a replay id that
  points at one is refused (INVALID_ARGUMENT, ``replayid.corrupted``), as the real bus does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import grpc
from grpc import aio

from connectors.salesforce.emulator.auth import ORG_ID
from connectors.salesforce.emulator.pubsub_aborts import (
    INVALID_REQUEST_ERROR,
    PubSubAbort,
    auth_failed,
    decode_replay_id,
    encode_replay_id,
    replay_id_failed,
)
from connectors.salesforce.emulator.pubsub_schemas import EventSchema
from connectors.salesforce.emulator.state import EmulatorState
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb


class PubSubServicer(Protocol):
    """What a subscription uses of the servicer (pubsub_server.PubSubServicer)."""

    state: EmulatorState

    def topic(self, name: str) -> EventSchema: ...

    def check_up(self) -> None: ...


MAX_BATCH = 100  # events per FetchResponse
_POLL_SECONDS = 1.0  # safety net beside the commit listener
_EVENT_IDS = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:salesforce:{ORG_ID}:events")


class Subscription:
    def __init__(
        self,
        servicer: PubSubServicer,
        requests: AsyncIterator[pb.FetchRequest],
        context: aio.ServicerContext[pb.FetchRequest, pb.FetchResponse],
        rpc_id: str,
        token: str,
    ) -> None:
        self.servicer = servicer
        self.state = servicer.state
        self.store = servicer.state.store
        self.requests = requests
        self.context = context
        self.rpc_id = rpc_id
        self.token = token  # re-checked before every response: tokens can be revoked
        self.topic = ""
        self.schema: EventSchema | None = None
        self.position = 0  # replay id of the last event this stream has passed
        self.pending = 0  # credit left
        self.wake = asyncio.Event()
        self.failure: PubSubAbort | None = None

    def _horizon_ms(self) -> int:
        retention = self.state.config.change_event_retention_hours
        return int(time.time() * 1000) - int(retention * 3_600_000)

    async def run(self) -> None:
        try:
            first = await self.requests.__anext__()
        except StopAsyncIteration:
            return
        if not first.topic_name:
            raise PubSubAbort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The topic name is required in the first FetchRequest.",
                INVALID_REQUEST_ERROR,
            )
        self.topic = first.topic_name
        self.schema = self.servicer.topic(first.topic_name)
        self.position = await self._start(first)
        self.pending = max(0, first.num_requested)
        reader = asyncio.create_task(self._read_requests())
        self.store.commit_listeners.append(self.wake.set)
        try:
            await self._serve()
        finally:
            self.store.commit_listeners.remove(self.wake.set)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _start(self, first: pb.FetchRequest) -> int:
        async with self.store.lock:
            latest = await self.store.latest_replay_id()
            if first.replay_preset == pb.LATEST:
                return latest
            if first.replay_preset == pb.EARLIEST:
                return 0
            wanted = decode_replay_id(first.replay_id)
            if wanted == 0 and latest == 0:
                return 0  # nothing was ever published: the id of an empty stream
            if not 0 < wanted <= latest:
                raise replay_id_failed()
            rows = await self.store.change_events(wanted - 1, None, 1)
        if not rows or rows[0]["replayId"] != wanted:
            raise replay_id_failed()  # purged
        if rows[0]["event"]["ChangeEventHeader"]["commitTimestamp"] < self._horizon_ms():
            raise replay_id_failed()  # past retention, purge or not
        return wanted

    async def _read_requests(self) -> None:
        async for request in self.requests:
            if request.topic_name and request.topic_name != self.topic:
                self.failure = PubSubAbort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "The topic name in a FetchRequest can't change within a subscription.",
                    INVALID_REQUEST_ERROR,
                )
            self.pending += max(0, request.num_requested)
            self.wake.set()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        keepalive = self.state.config.pubsub_keepalive_seconds
        last_sent = loop.time()
        while True:
            if self.failure is not None:
                raise self.failure
            self.servicer.check_up()
            if not self.state.tokens.is_valid(self.token):
                raise auth_failed()
            self.wake.clear()  # before reading, so a commit during the read is not missed
            if self.pending > 0 and await self._send_due():
                last_sent = loop.time()
                continue
            remaining = keepalive - (loop.time() - last_sent)
            if remaining <= 0:
                await self._send_keepalive()
                last_sent = loop.time()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), min(remaining, _POLL_SECONDS))

    async def _send_due(self) -> int:
        assert self.schema is not None
        horizon = self._horizon_ms()
        async with self.store.lock:
            while True:
                rows = await self.store.change_events(
                    self.position, self.schema.entity, min(self.pending, MAX_BATCH)
                )
                if not rows:
                    return 0
                self.position = rows[-1]["replayId"]
                fresh = [
                    r for r in rows if r["event"]["ChangeEventHeader"]["commitTimestamp"] >= horizon
                ]
                if fresh:
                    break
        events = [self._consumer_event(row) for row in fresh]
        self.pending -= len(events)
        await self.context.write(
            pb.FetchResponse(
                events=events,
                latest_replay_id=encode_replay_id(self.position),
                rpc_id=self.rpc_id,
                pending_num_requested=self.pending,
            )
        )
        return len(events)

    async def _send_keepalive(self) -> None:
        assert self.schema is not None
        async with self.store.lock:
            latest = await self.store.latest_replay_id()
            undelivered = await self.store.change_events(self.position, self.schema.entity, 1)
        if not undelivered:
            # Nothing of ours lies between here and the tip: resuming from the tip loses nothing.
            self.position = max(self.position, latest)
        await self.context.write(
            pb.FetchResponse(
                latest_replay_id=encode_replay_id(self.position),
                rpc_id=self.rpc_id,
                pending_num_requested=self.pending,
            )
        )

    def _consumer_event(self, row: dict[str, Any]) -> pb.ConsumerEvent:
        assert self.schema is not None
        replay_id = int(row["replayId"])
        return pb.ConsumerEvent(
            event=pb.ProducerEvent(
                id=str(uuid.uuid5(_EVENT_IDS, str(replay_id))),
                schema_id=self.schema.schema_id,
                payload=self.schema.encode(row["event"]),
            ),
            replay_id=encode_replay_id(replay_id),
        )
