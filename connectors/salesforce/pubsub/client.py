"""``PubSubSubscriber``: Change Data Capture over the Salesforce Pub/Sub API (gRPC).

Authenticates with the REST client's OAuth (the token, instance URL and org id travel as
metadata), fetches each schema once, and yields decoded events while granting the server
credit as they are consumed. Recovers on its own from what a long-lived stream meets:
dropped connections and an unavailable service (reconnect with backoff from the last
position), an expired token (one refresh, then resubscribe). A replay id past retention
is not recoverable here: ``ReplayIdExpired`` tells the caller to resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import grpc
from grpc import aio

from connectors.base.errors import Action, TokenExpired
from connectors.base.observer import observer
from connectors.base.retry import RetryPolicy
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.errors import SYSTEM
from connectors.salesforce.pubsub.errors import (
    PubSubError,
    ReplayIdExpired,
    error_from_rpc,
    pubsub_error,
)
from connectors.salesforce.pubsub.events import EventDecoder, ReceivedEvent
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb
from connectors.salesforce.pubsub.generated import pubsub_api_pb2_grpc as pb_grpc
from connectors.salesforce.settings import SalesforceSettings

T = TypeVar("T")
Start = Literal["latest", "earliest"]
KeepaliveHook = Callable[[str, bytes], None]


def channel_for(url: str) -> aio.Channel:
    """``https://host:port`` -> TLS channel; ``http://host:port`` -> plaintext (emulator)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    secure = parts.scheme != "http"
    target = f"{parts.hostname}:{parts.port or (7443 if secure else 80)}"
    if secure:
        return aio.secure_channel(target, grpc.ssl_channel_credentials())
    return aio.insecure_channel(target)


@dataclass
class _Cursor:
    """Where a subscription resumes after a reconnect: the last position it passed."""

    position: bytes | None
    start: Start


class PubSubSubscriber:
    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        rest: SalesforceClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self._rest = rest or SalesforceClient(settings)
        self._owns_rest = rest is None
        self.retry = retry or RetryPolicy()
        self._channel = channel_for(settings.pubsub_url)
        self._stub = pb_grpc.PubSubStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] | None = None
        self.decoder = EventDecoder()
        self.positions: dict[
            str, bytes
        ] = {}  # topic -> latest replay id seen (events or keepalives)

    async def __aenter__(self) -> PubSubSubscriber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()
        if self._owns_rest:
            await self._rest.aclose()

    # -- auth ----------------------------------------------------------------------------

    async def authenticate(self) -> tuple[tuple[str, str], ...]:
        """A fresh token from the REST client's OAuth flow, as Pub/Sub metadata."""
        headers = await self._rest.authenticate()
        token = headers["Authorization"].partition(" ")[2]
        # A Salesforce access token starts with the org id: "00D...!..."
        tenant = self.settings.pubsub_tenant_id or token.partition("!")[0]
        instance = self._rest.instance_url or self.settings.login_url
        self._metadata = (("accesstoken", token), ("instanceurl", instance), ("tenantid", tenant))
        return self._metadata

    async def _auth_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata or await self.authenticate()

    def _backoff(self, failures: int) -> float:
        delay = min(self.retry.max_seconds, self.retry.initial_seconds * 2 ** (failures - 1))
        return delay + random.uniform(0, delay / 4)  # jitter

    async def _unary(
        self, endpoint: str, call: Callable[[tuple[tuple[str, str], ...]], Awaitable[T]]
    ) -> T:
        refreshed = False
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                result = await call(await self._auth_metadata())
            except aio.AioRpcError as exc:
                error = error_from_rpc(exc)
                observer().call(SYSTEM, endpoint, error.action.value, time.perf_counter() - started)
                if isinstance(error, TokenExpired) and not refreshed:
                    refreshed = True
                    await self.authenticate()
                    continue
                if error.retriable and not isinstance(error, TokenExpired):
                    failures += 1
                    if failures < self.retry.attempts:
                        observer().retry(SYSTEM, endpoint)
                        await asyncio.sleep(self._backoff(failures))
                        continue
                raise error from exc
            observer().call(SYSTEM, endpoint, "ok", time.perf_counter() - started)
            return result

    # -- topics and schemas ------------------------------------------------------------

    async def get_topic(self, topic: str) -> pb.TopicInfo:
        request = pb.TopicRequest(topic_name=topic)
        info: pb.TopicInfo = await self._unary(
            "pubsub.GetTopic", lambda md: self._stub.GetTopic(request, metadata=md)
        )
        return info

    async def get_schema(self, schema_id: str) -> str:
        """The Avro schema JSON of ``schema_id`` (cached: a schema id never changes)."""
        request = pb.SchemaRequest(schema_id=schema_id)
        info: pb.SchemaInfo = await self._unary(
            "pubsub.GetSchema", lambda md: self._stub.GetSchema(request, metadata=md)
        )
        self.decoder.add(schema_id, info.schema_json)
        return info.schema_json

    async def _decode(self, topic: str, consumer_event: pb.ConsumerEvent) -> ReceivedEvent:
        if not self.decoder.knows(consumer_event.event.schema_id):
            await self.get_schema(consumer_event.event.schema_id)
        return self.decoder.decode(topic, consumer_event)

    # -- subscribe -----------------------------------------------------------------------

    async def subscribe(
        self,
        topic: str,
        replay_id: bytes | None,
        batch: int = 100,
        *,
        start: Start = "latest",
        on_keepalive: KeepaliveHook | None = None,
    ) -> AsyncIterator[ReceivedEvent]:
        """Events of ``topic`` after ``replay_id`` (or from ``start`` when None), forever.

        Credit: ``batch`` events at first, topped up once half of it is consumed, so the
        server never sends more than the consumer can take. A keepalive's latest replay id
        goes to ``positions[topic]`` and ``on_keepalive``: persisting it keeps a quiet
        subscription's stored position fresh. Raises ``ReplayIdExpired`` (resync), a
        ``PubSubError`` once retries are spent, or FATAL ones (unknown topic) at once.
        """
        if batch < 1:
            raise ValueError("batch must be at least 1")
        cursor = _Cursor(replay_id, start)
        failures = 0
        refreshed = False
        while True:
            stream = self._stream_once(topic, cursor, batch, on_keepalive)
            try:
                # aclosing: a consumer that stops early must end the call now, not at GC
                async with contextlib.aclosing(stream):
                    async for item in stream:
                        failures, refreshed = 0, False
                        if item is not None:
                            yield item
                            cursor.position = item.replay_id
                error: PubSubError | None = None  # the server ended the stream: reconnect
            except aio.AioRpcError as exc:
                error = error_from_rpc(exc, replay_id=cursor.position)
                observer().call(SYSTEM, "pubsub.Subscribe", error.action.value, None)
                if isinstance(error, ReplayIdExpired):
                    raise error from exc
                if isinstance(error, TokenExpired):
                    if refreshed:  # a fresh token was refused as well: fatal, a new error
                        raise pubsub_error(
                            Action.FATAL,
                            error.message,
                            grpc_status=error.grpc_status,
                            error_code=error.code,
                            rpc_id=error.rpc_id,
                        ) from exc
                    refreshed = True
                    await self.authenticate()
                    continue
                if not error.retriable:
                    raise error from exc
            failures += 1
            if failures >= self.retry.attempts:
                raise error or pubsub_error(
                    Action.RETRY,
                    "subscription kept ending",
                    grpc_status=grpc.StatusCode.UNAVAILABLE,
                )
            observer().retry(SYSTEM, "pubsub.Subscribe")
            await asyncio.sleep(self._backoff(failures))

    async def _stream_once(
        self, topic: str, cursor: _Cursor, batch: int, on_keepalive: KeepaliveHook | None
    ) -> AsyncGenerator[ReceivedEvent | None, None]:
        """One Subscribe call. Yields events, and None for each response (progress marker)."""
        first = pb.FetchRequest(topic_name=topic, num_requested=batch)
        if cursor.position:
            first.replay_preset = pb.CUSTOM
            first.replay_id = cursor.position
        else:
            first.replay_preset = pb.EARLIEST if cursor.start == "earliest" else pb.LATEST
        requests: asyncio.Queue[pb.FetchRequest | None] = asyncio.Queue()
        requests.put_nowait(first)

        async def request_stream() -> AsyncIterator[pb.FetchRequest]:
            while (request := await requests.get()) is not None:
                yield request

        call = self._stub.Subscribe(request_stream(), metadata=await self._auth_metadata())
        outstanding = batch  # credit the server still holds
        try:
            async for response in call:
                yield None
                outstanding -= len(response.events)
                if not response.events:
                    if response.latest_replay_id:
                        cursor.position = response.latest_replay_id
                        self.positions[topic] = response.latest_replay_id
                        if on_keepalive is not None:
                            on_keepalive(topic, response.latest_replay_id)
                    continue
                for index, consumer_event in enumerate(response.events):
                    event = await self._decode(topic, consumer_event)
                    yield event
                    self.positions[topic] = event.replay_id
                    unconsumed = len(response.events) - index - 1
                    if outstanding + unconsumed <= batch // 2:
                        more = batch - outstanding - unconsumed
                        requests.put_nowait(pb.FetchRequest(topic_name=topic, num_requested=more))
                        outstanding += more
        finally:
            requests.put_nowait(None)
            call.cancel()
