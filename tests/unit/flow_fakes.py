"""Fakes for testing one flow without a broker: topics that record what was sent, a table
that is a dict, an app that only hands out tables, and connectors that are whatever the test
passes. The flow itself is the real class, built from its real topology entry."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from connectors.base.errors import RecordError
from connectors.salesforce import soql
from connectors.salesforce.models import RecordResult
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
    # What the Sage Pro sink reads of its settings (connectors/sagepro/settings.py).
    sagepro_settings: Any = field(default_factory=lambda: SimpleNamespace(max_in_flight=8))
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


class FakeCollections:
    """sObject Collections over a fake Salesforce's own rows (``row``, ``apply``, ``make``),
    answered as the real API answers: one element per record, in order, a record's failure
    its own (``failing`` record ids fail with ``failing_code``). ``calls`` counts API calls."""

    calls: Counter[str]
    failing: set[str]
    created: list[tuple[str, dict[str, Any]]]
    failing_code: str = "ENTITY_IS_DELETED"

    def field_names(self, obj: str) -> set[str]:
        raise NotImplementedError

    async def row(self, obj: str, record_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def apply(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        raise NotImplementedError

    async def make(self, obj: str, fields: dict[str, Any]) -> str:
        raise NotImplementedError

    async def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        self.calls["get"] += 1
        return await self.row(obj, record_id)

    async def query(self, text: str) -> list[dict[str, Any]]:
        """``SELECT ... WHERE Id IN (...)`` (parent fields nested, as SOQL answers them) and
        ``SELECT Subject ... WHERE Subject IN (...)``; nothing else is asked of it."""
        self.calls["query"] += 1
        parsed = soql.parse(text)
        where = parsed.where
        assert isinstance(where, soql.InList)
        if where.field == "Subject":
            return [
                {"Subject": f["Subject"]}
                for o, f in self.created
                if o == parsed.sobject and f["Subject"] in where.values
            ]
        assert where.field == "Id"
        unknown = [
            f for f in parsed.fields if "." not in f and f not in self.field_names(parsed.sobject)
        ]
        if unknown:  # the org refuses the whole query, naming the first
            raise RecordError(
                f"No such column '{unknown[0]}'", system="salesforce", code="INVALID_FIELD"
            )
        rows = []
        for record_id in where.values:
            found = await self.row(parsed.sobject, str(record_id))
            if found is None:
                continue
            row: dict[str, Any] = {"Id": record_id}  # every row has one, selected or not
            for name in parsed.fields:
                rel, _, field_name = name.partition(".")
                if not field_name:
                    row[name] = found.get(name, row.get(name))
                    continue
                lookup = rel.removesuffix("__r") + "__c" if rel.endswith("__r") else rel + "Id"
                parent = await self.row("Account", found[lookup]) if found.get(lookup) else None
                if parent is None:
                    row[rel] = None
                else:
                    row.setdefault(rel, {"attributes": {"type": "Account"}})
                    row[rel][field_name] = parent.get(field_name)
            rows.append(row)
        return rows

    async def retrieve_collection(
        self, obj: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        self.calls["retrieve"] += 1
        assert len(ids) <= 200
        found = [await self.row(obj, rid) for rid in ids]
        return [{k: v for k, v in r.items() if k in fields} if r else None for r in found]

    async def update_collection(
        self, records: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> list[RecordResult]:
        self.calls["update"] += 1
        results = []
        for obj, record_id, fields in records:
            try:
                if record_id in self.failing:
                    raise RecordError("refused", system="salesforce", code=self.failing_code)
                await self.apply(obj, record_id, fields)
            except RecordError as exc:
                error = {"statusCode": exc.code, "message": str(exc), "fields": []}
                results.append(RecordResult.model_validate({"success": False, "errors": [error]}))
            else:
                results.append(RecordResult(id=record_id, success=True))
        return results

    async def create_collection(
        self, records: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[RecordResult]:
        self.calls["create"] += 1
        return [RecordResult(id=await self.make(o, f), success=True) for o, f in records]
