"""The emulated org's state, one per app, and the key handlers find it under.

Its own module so the routes, controls and Pub/Sub server read it without importing the app
that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from connectors.base.emulator import Faults
from connectors.salesforce.emulator.auth import TokenBook
from connectors.salesforce.emulator.config import EmulatorConfig
from connectors.salesforce.emulator.query import QueryEngine
from connectors.salesforce.emulator.records import Org
from connectors.salesforce.emulator.schema import ObjectDef
from connectors.salesforce.emulator.store import SalesforceStore


@dataclass
class EmulatorState:
    config: EmulatorConfig
    schema: dict[str, ObjectDef]
    store: SalesforceStore
    faults: Faults
    tokens: TokenBook
    org: Org
    queries: QueryEngine
    api_used: int = 0
    api_limit: int = 0
    pubsub_port: int | None = None  # bound port of the Pub/Sub API, once it serves

    def limit_header(self) -> str:
        return f"api-usage={self.api_used}/{self.api_limit}"


STATE = web.AppKey("salesforce_state", EmulatorState)
