"""Shared by the Pub/Sub tests: an emulated org serving REST and gRPC on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from grpc import aio
from pydantic import SecretStr

from connectors.base.emulator import EmulatorServer
from connectors.base.retry import RetryPolicy
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.emulator.app import create_app
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.emulator.pubsub_server import pubsub_url
from connectors.salesforce.emulator.state import STATE, EmulatorState
from connectors.salesforce.pubsub.client import PubSubSubscriber
from connectors.salesforce.pubsub.events import ReceivedEvent
from connectors.salesforce.pubsub.generated import pubsub_api_pb2_grpc as pb_grpc
from connectors.salesforce.settings import SalesforceSettings

FAST = RetryPolicy(attempts=8, initial_seconds=0.05, max_seconds=0.2, total_seconds=10)
CLIENT_ID = "paystream-cdc-test"
OPPORTUNITIES = "/data/OpportunityChangeEvent"
ORDERS = "/data/OrderChangeEvent"
ACCOUNTS = "/data/AccountChangeEvent"


@dataclass
class Org:
    app: web.Application
    server: EmulatorServer
    settings: SalesforceSettings
    rest: SalesforceClient

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    def subscriber(self, **settings: Any) -> PubSubSubscriber:
        return PubSubSubscriber(self.settings.model_copy(update=settings), retry=FAST)

    async def opportunity(self, name: str = "Solar deal", stage: str = "Prospecting") -> str:
        return await self.rest.create(
            "Opportunity", {"Name": name, "StageName": stage, "CloseDate": "2024-05-01"}
        )

    async def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """Auth metadata for raw stub calls (a fresh valid token unless one is given)."""
        if token is None:
            headers = await self.rest.authenticate()
            token = headers["Authorization"].partition(" ")[2]
        return (
            ("accesstoken", token),
            ("instanceurl", self.server.base_url),
            ("tenantid", token.partition("!")[0]),
        )

    @asynccontextmanager
    async def stub(self) -> AsyncIterator[pb_grpc.PubSubStub]:
        channel = aio.insecure_channel(self.settings.pubsub_url.removeprefix("http://"))
        try:
            yield pb_grpc.PubSubStub(channel)
        finally:
            await channel.close()


@asynccontextmanager
async def running_org(**config: Any) -> AsyncIterator[Org]:
    values: dict[str, Any] = {"pubsub_port": 0, "pubsub_keepalive_seconds": 0.3, **config}
    app = create_app(EmulatorConfig(**values))
    async with EmulatorServer(app) as server:
        settings = SalesforceSettings(
            login_url=server.base_url,
            client_id="paystream-demo",
            client_secret=SecretStr("demo-secret"),
            call_options_client=CLIENT_ID,
            pubsub_url=pubsub_url(app) if values["pubsub_port"] is not None else "",
        )
        async with SalesforceClient(settings, retry=FAST) as rest:
            yield Org(app, server, settings, rest)


async def take(
    events: AsyncIterator[ReceivedEvent], count: int, timeout: float = 5.0
) -> list[ReceivedEvent]:
    """The next ``count`` events (closing the subscription), or TimeoutError."""
    received: list[ReceivedEvent] = []

    async def collect() -> None:
        async for event in events:
            received.append(event)
            if len(received) == count:
                return

    try:
        await asyncio.wait_for(collect(), timeout)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    return received


async def next_event(events: AsyncIterator[ReceivedEvent], timeout: float = 5.0) -> ReceivedEvent:
    return await asyncio.wait_for(anext(events), timeout)


async def nothing_more(events: AsyncIterator[ReceivedEvent], within: float = 0.6) -> bool:
    """True when no further event arrives within ``within`` seconds."""
    try:
        await take(events, 1, timeout=within)
    except TimeoutError:
        return True
    return False
