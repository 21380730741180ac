"""Fakes for testing one flow without a broker: topics that record what was sent, a table
that is a dict, an app that only hands out tables, and connectors that are whatever the test
passes. The flow itself is the real class, built from its real topology entry."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from schemas.deadletter import DeadLetter
from stream.context import PipelineContext
from stream.mapping import Mapping, load_mapping
from stream.runtime.base import Flow
from stream.runtime.limits import RecordLimits
from stream.runtime.records import Incoming
from stream.settings import KafkaSettings, WorkerSettings
from stream.topic_names import TOPICS
from stream.topology import FLOWS, REPLAY_SINKS


@dataclass
class Sent:
    key: bytes | None
    value: bytes
    headers: Any


class FakeTopic:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Sent] = []
        self.refuse: set[bytes] = set()  # keys whose send the "broker" refuses

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, key: bytes | None = None, value: bytes = b"", headers: Any = None) -> Any:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if key in self.refuse:
            future.set_exception(RuntimeError("MessageSizeTooLargeError"))
        else:
            self.sent.append(Sent(key, value, headers))
            future.set_result(None)
        return future


class FakeTable(dict[bytes, str]):
    def __missing__(self, key: bytes) -> str:
        return ""


class FakeProducer:
    async def flush(self) -> None:
        return None


class FakeApp:
    def __init__(self) -> None:
        self.tables: dict[str, FakeTable] = {}
        self.producer = FakeProducer()
        self.crashed: BaseException | None = None

    def Table(self, name: str, **_: Any) -> FakeTable:
        return self.tables.setdefault(name, FakeTable())

    async def crash(self, reason: BaseException) -> None:
        self.crashed = reason

    def timer(self, *_: Any, **__: Any) -> Any:
        return lambda fn: fn


@dataclass
class FakeConnectors:
    """Stands in for stream.context.Connectors: each accessor returns what the test set."""

    paytrace_client: Any = None
    salesforce_client: Any = None
    sagepro_client: Any = None
    paytrace_settings: Any = None
    salesforce_settings: Any = None
    sagepro_settings: Any = None
    closed: bool = field(default=False)
    down: set[str] = field(default_factory=set)  # systems whose probe fails
    probed: list[str] = field(default_factory=list)

    def paytrace(self) -> Any:
        return self.paytrace_client

    def salesforce(self) -> Any:
        return self.salesforce_client

    def sagepro(self) -> Any:
        return self.sagepro_client

    async def probe(self, system: str) -> None:
        self.probed.append(system)
        client = getattr(self, f"{system}_client", None)
        # A fake client in an outage (``down_for`` calls left to fail) fails the probe too.
        if system in self.down or getattr(client, "down_for", 0) > 0:
            raise ConnectionError(f"{system} is down")

    async def aclose(self) -> None:
        self.closed = True


def context(
    connectors: FakeConnectors | None = None,
    mapping: Mapping | None = None,
    limits: RecordLimits | None = None,
    worker: WorkerSettings | None = None,
) -> PipelineContext:
    ctx = PipelineContext(
        app=FakeApp(),  # type: ignore[arg-type]
        worker=worker or WorkerSettings(),
        kafka=KafkaSettings(),
        bootstrap="unused:9092",
        mapping=mapping or load_mapping(None),
        connectors=connectors or FakeConnectors(),  # type: ignore[arg-type]
        limits=limits or RecordLimits(),
        replay_sinks=REPLAY_SINKS,
    )
    for logical in TOPICS:
        ctx.topics[logical] = FakeTopic(logical)  # type: ignore[assignment]
    return ctx


def flow(name: str, ctx: PipelineContext) -> Any:
    """The real flow class of topology entry ``name``, built on ``ctx``."""
    spec = next(s for s in FLOWS if s.name == name)
    built: Flow = spec.cls(ctx, spec)
    return built


def incoming(
    value: bytes | BaseModel | str,
    *,
    key: bytes | str | None = b"k",
    topic: str = "in",
    offset: int = 0,
    headers: tuple[tuple[str, bytes], ...] = (),
) -> Incoming:
    if isinstance(value, BaseModel):
        value = value.model_dump_json()
    if isinstance(value, str):
        value = value.encode()
    if isinstance(key, str):
        key = key.encode()
    return Incoming(key, value, headers, topic, 0, offset)


def sent(ctx: PipelineContext, logical: str) -> list[Sent]:
    topic: FakeTopic = ctx.topics[logical]  # type: ignore[assignment]
    return topic.sent


def dead_letters(ctx: PipelineContext) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(s.value) for s in sent(ctx, "deadletter")]


@dataclass
class FakeSage:
    """Sage Pro as the charge flows use it: customers exist, invoices are kept by id."""

    invoices: dict[str, Any] = field(default_factory=dict)

    async def get_customer(self, customer_id: str) -> Any:
        return SimpleNamespace(customer_id=customer_id)

    async def get_invoice(self, invoice_id: str) -> Any:
        return self.invoices.get(invoice_id)

    async def create_invoice(self, invoice: Any) -> Any:
        self.invoices[invoice.invoice_id] = invoice
        return invoice
