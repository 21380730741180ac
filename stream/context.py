"""What agents share at run time: the app, its topics, the mapping and the connector clients.

Clients are made on first use, inside the worker's event loop, and closed when it stops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings
from stream.mapping import Mapping
from stream.runtime.limits import RecordLimits
from stream.settings import KafkaSettings, WorkerSettings

if TYPE_CHECKING:
    from stream.runtime.api_budget import ApiBudget


@dataclass
class Connectors:
    paytrace_settings: PayTraceSettings
    salesforce_settings: SalesforceSettings
    sagepro_settings: SageProSettings
    _clients: dict[str, Any] = field(default_factory=dict)

    def paytrace(self) -> PayTraceClient:
        if "paytrace" not in self._clients:
            self._clients["paytrace"] = PayTraceClient.from_settings(self.paytrace_settings)
        client: PayTraceClient = self._clients["paytrace"]
        return client

    def salesforce(self) -> SalesforceClient:
        if "salesforce" not in self._clients:
            self._clients["salesforce"] = SalesforceClient.from_settings(self.salesforce_settings)
        client: SalesforceClient = self._clients["salesforce"]
        return client

    def sagepro(self) -> SageProRestClient:
        if "sagepro" not in self._clients:
            self._clients["sagepro"] = SageProRestClient.from_settings(self.sagepro_settings)
        client: SageProRestClient = self._clients["sagepro"]
        return client

    async def probe(self, system: str) -> None:
        """One cheap call to ``system``; raises when it does not answer."""
        clients = {
            "paytrace": self.paytrace,
            "salesforce": self.salesforce,
            "sagepro": self.sagepro,
        }
        if system not in clients:
            raise LookupError(f"no client for {system!r}")
        await clients[system]().probe()

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()


@dataclass
class PipelineContext:
    app: faust.App
    worker: WorkerSettings
    kafka: KafkaSettings
    bootstrap: str
    mapping: Mapping
    connectors: Connectors
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    limits: RecordLimits = field(default_factory=RecordLimits)
    replay_sinks: tuple[str, ...] = ()  # the topology's replay-sink names
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    api_budget: ApiBudget | None = None  # stream/runtime/api_budget.py budget_for(): one a worker

    def topic(self, logical: str) -> faust.TopicT:
        return self.topics[logical]
