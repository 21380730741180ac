"""The real PayTrace poller (agents/paytrace_source.py) on simulated clocks, against a PayTrace
emulator over HTTP, with its Kafka side in memory: what the poller downloads is what is
measured, so nothing between it and the emulator is replaced.

Used by bench/paytrace_polling.py and tests/integration/test_paytrace_polling.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, SecretStr

from agents.paytrace_source import PayTracePoller
from connectors.base.emulator import EmulatorServer
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.emulator.app import create_app
from connectors.paytrace.emulator.config import EmulatorConfig
from connectors.paytrace.settings import PayTraceSettings
from stream.context import PipelineContext
from stream.mapping import load_mapping
from stream.runtime.processor import Emit
from stream.settings import KafkaSettings, WorkerSettings
from stream.topology import FLOWS, REPLAY_SINKS

USER, PASSWORD = "bench", "bench-password"

M = TypeVar("M", bound=BaseModel)


class _App:
    """What the poller asks of a Faust app outside a worker: nothing it would run."""

    def timer(self, *_: Any, **__: Any) -> Any:
        return lambda fn: fn


class MemoryPositions:
    """Stands in for CompactedPosition: values as the compacted topic would hold them (the
    unit tests of the sources use it too)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.reads = 0
        self.closed = False

    async def get(self, key: str, model: type[M]) -> M | None:
        self.reads += 1
        raw = self.values.get(key)
        return model.model_validate_json(raw) if raw is not None else None

    async def put(self, key: str, value: BaseModel) -> None:
        self.values[key] = value.model_dump_json().encode()

    def forget(self) -> None:
        return None

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Connectors:
    client: PayTraceClient
    paytrace_settings: PayTraceSettings

    def paytrace(self) -> PayTraceClient:
        return self.client


@dataclass
class SimClock:
    """Simulated time: ``now`` is UTC; ``mono`` the poller's monotonic seconds."""

    now: datetime
    mono: float = 1_000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Harness:
    server: EmulatorServer
    control: httpx.AsyncClient
    client: PayTraceClient
    settings: PayTraceSettings

    def poller(
        self, clock: SimClock, worker: WorkerSettings | None = None
    ) -> tuple[PayTracePoller, list[Emit]]:
        """The real poller on ``clock``, and the list its acknowledged records land in."""
        ctx = PipelineContext(
            app=_App(),  # type: ignore[arg-type]
            worker=worker or WorkerSettings(),
            kafka=KafkaSettings(),
            bootstrap="unused:9092",
            mapping=load_mapping(None),
            connectors=Connectors(self.client, self.settings),  # type: ignore[arg-type]
            replay_sinks=REPLAY_SINKS,
        )
        ctx.topics["deadletter"] = None  # type: ignore[assignment]  # a source never writes it
        spec = next(s for s in FLOWS if s.cls is PayTracePoller)
        poller: PayTracePoller = spec.cls(ctx, spec)
        poller.positions = MemoryPositions()  # type: ignore[assignment]
        poller.clock = lambda: clock.mono
        poller.wallclock = lambda: clock.now

        published: list[Emit] = []

        async def publish(records: Sequence[Emit]) -> None:
            published.extend(records)

        poller.publish = publish  # type: ignore[method-assign]
        return poller, published

    async def served(self) -> int:
        response = await self.control.get("/_emulator/served")
        response.raise_for_status()
        return int(response.json()["total"])

    async def seed(self, count: int, start: datetime, end: datetime, prefix: str) -> int:
        body = {"count": count, "start": start.timestamp(), "end": end.timestamp()}
        response = await self.control.post(
            "/_emulator/seed", json={**body, "invoice_prefix": prefix}
        )
        response.raise_for_status()
        return int(response.json()["first_transaction_id"])

    async def settle(self) -> int:
        """Close the open batch; how many transactions it settled."""
        response = await self.control.post("/_emulator/settle")
        response.raise_for_status()
        return int(response.json().get("transaction_count") or 0)

    async def current_states(self, first: datetime, last: datetime) -> dict[int, tuple[str, bool]]:
        """Every transaction of the days as the export shows it now: (status, settled)."""
        records = await self.client.export_by_date_range(first.date(), last.date())
        return {r.transaction_id: (r.status or "", r.settled is not None) for r in records}


def published_states(published: Sequence[Emit]) -> dict[int, tuple[str, bool]]:
    """The last state a poller published per transaction (what the raw topic would hold)."""
    out: dict[int, tuple[str, bool]] = {}
    for emit in published:
        record = orjson.loads(emit.value)["record"]
        state = (record.get("status") or "", bool(record.get("settled")))
        out[int(record["transaction_id"])] = state
    return out


async def start_harness(timezone: str = "UTC") -> Harness:
    server = EmulatorServer(
        create_app(EmulatorConfig(username=USER, password=PASSWORD, timezone=timezone)), port=0
    )
    await server.start()
    settings = PayTraceSettings(
        base_url=server.base_url, username=USER, password=SecretStr(PASSWORD), timezone=timezone
    )
    return Harness(
        server,
        httpx.AsyncClient(base_url=server.base_url, timeout=120),
        PayTraceClient.from_settings(settings),
        settings,
    )


async def stop_harness(harness: Harness) -> None:
    await harness.client.aclose()
    await harness.control.aclose()
    await harness.server.stop()


def day_start(day_offset: int = -1) -> datetime:
    """Midnight UTC ``day_offset`` days from today: a whole simulated day in the past."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=day_offset)
