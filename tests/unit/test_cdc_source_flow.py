"""The Salesforce CDC source on the source runtime, with a fake Pub/Sub subscriber and no
broker: events in, changes published, the replay id stored only once they are acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agents import salesforce_cdc_source
from agents.salesforce_cdc_source import ChannelPosition, SalesforceCdcSource, change_key
from connectors.salesforce.ids import make_id
from connectors.salesforce.pubsub.errors import ReplayIdExpired
from connectors.salesforce.pubsub.events import ChangeEventHeader, ReceivedEvent
from schemas.collection import SalesforceChange
from stream import metrics
from stream.context import PipelineContext
from tests.unit.flow_fakes import FakeConnectors, context, flow
from tests.unit.source_fakes import MemoryPositions, Publisher, wired

CHANNEL = "/data/OpportunityChangeEvent"


def event(number: int) -> ReceivedEvent:
    record_id = make_id("006", number)
    header = ChangeEventHeader(
        entity_name="Opportunity",
        record_ids=(record_id,),
        change_type="UPDATE",
        change_origin="com/salesforce/api/rest/62.0;client=someone",
        transaction_key=f"tx{number}",
        sequence_number=1,
        commit_timestamp=1_700_000_000_000 + number,
        commit_number=number,
        commit_user="005000000000001",
        changed_fields=("StageName",),
        nulled_fields=(),
        diff_fields=(),
    )
    return ReceivedEvent(
        topic=CHANNEL,
        replay_id=bytes([number]),
        event_id=f"e{number}",
        schema_id="s",
        header=header,
        payload={"StageName": "Closed Won", "Amount": None},
    )


class FakeSubscriber:
    """Yields its events on CHANNEL, then stays open; the first may fail as expired."""

    def __init__(self, events: list[ReceivedEvent], *, expired: bool = False) -> None:
        self.events = events
        self.expired = expired
        self.calls: list[tuple[str, bytes | None, str]] = []
        self.closed = False

    async def subscribe(
        self, channel: str, replay: bytes | None, *, start: str, on_keepalive: Any = None
    ) -> AsyncIterator[ReceivedEvent]:
        if channel == CHANNEL:  # the mapping's other channels stay quiet
            self.calls.append((channel, replay, start))
            if self.expired:
                self.expired = False
                raise ReplayIdExpired("replay id too old", replay_id=replay, rpc_id=None)
            for item in self.events:
                yield item
        await asyncio.Event().wait()

    async def close(self) -> None:
        self.closed = True


class FakeSalesforce:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    async def query(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        return list(self.rows)


def source(
    subscriber: FakeSubscriber, rows: list[dict[str, Any]] | None = None
) -> tuple[SalesforceCdcSource, MemoryPositions, Publisher, PipelineContext]:
    ctx = context(FakeConnectors(salesforce_client=FakeSalesforce(rows or [])))
    cdc: SalesforceCdcSource = flow("salesforce_cdc_source", ctx)
    cdc._subscriber = subscriber  # type: ignore[assignment]
    positions, publisher = wired(cdc)
    return cdc, positions, publisher, ctx


async def until(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    """The source's tasks run on their own: check ``condition`` until it holds."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def stored(positions: MemoryPositions) -> ChannelPosition | None:
    raw = positions.values.get(CHANNEL)
    return ChannelPosition.model_validate_json(raw) if raw is not None else None


def count(name: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, {"agent": "salesforce_cdc_source"})
    return value or 0.0


async def test_events_are_published_keyed_by_record_id_then_the_replay_id_stored() -> None:
    cdc, positions, publisher, _ = source(FakeSubscriber([event(1), event(2), event(3)]))
    before_in = count("paystream_events_in_total")
    before_out = count("paystream_events_out_total")
    cdc.ensure_running(leader=True)
    await until(lambda: stored(positions) is not None)
    assert [r.key for r in publisher.records] == [make_id("006", n).encode() for n in (1, 2, 3)]
    assert {r.topic for r in publisher.records} == {"salesforce_cdc"}
    change = SalesforceChange.model_validate_json(publisher.records[0].value)
    assert change.values == {"StageName": "Closed Won"} and change.replay_id == "01"
    position = stored(positions)
    assert position is not None and position.replay_id == "03"
    assert position.commit_timestamp == 1_700_000_000_003
    assert count("paystream_events_in_total") == before_in + 3
    assert count("paystream_events_out_total") == before_out + 3
    await cdc.aclose()
    assert positions.closed and cdc._tasks == {}


async def test_a_refused_publish_stores_nothing_and_the_subscription_resumes_from_before() -> None:
    subscriber = FakeSubscriber([event(1)])
    cdc, positions, publisher, _ = source(subscriber)
    await positions.put(CHANNEL, ChannelPosition(replay_id="00"))
    publisher.fail = RuntimeError("KafkaTimeoutError")
    before = count("paystream_events_failed_total")
    cdc.ensure_running(leader=True)
    await until(lambda: cdc._tasks["Opportunity"].done())
    assert stored(positions) == ChannelPosition(replay_id="00")
    publisher.fail = None
    cdc.ensure_running(leader=True)  # the next 1 s tick: counts the failure, subscribes again
    assert count("paystream_events_failed_total") == before + 1
    await until(lambda: stored(positions) != ChannelPosition(replay_id="00"))
    assert [call[1] for call in subscriber.calls] == [b"\x00", b"\x00"]
    assert [r.key for r in publisher.records] == [make_id("006", 1).encode()]
    await cdc.aclose()


async def test_an_expired_replay_id_resyncs_by_query_then_closes_the_gap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(salesforce_cdc_source, "RESYNC_SETTLE_SECONDS", 0.0)
    account = make_id("001", 1)
    rows = [{"Id": make_id("006", 9), "AccountId": account, "CreatedDate": None}]
    subscriber = FakeSubscriber([], expired=True)
    cdc, positions, publisher, _ = source(subscriber, rows)
    await positions.put(CHANNEL, ChannelPosition(replay_id="aa", commit_timestamp=1_000))
    cdc.ensure_running(leader=True)
    await until(lambda: cdc._tasks["Opportunity"].done())
    position = stored(positions)
    assert position is not None and position.resync_since > 0 and position.replay_id == ""
    (resync,) = [SalesforceChange.model_validate_json(r.value) for r in publisher.records]
    assert (resync.source, resync.change_type) == ("resync", "RESYNC")
    cdc.ensure_running(leader=True)  # subscribes from the newest event, queries once more
    await until(lambda: len(publisher.records) == 2)
    await until(lambda: (stored(positions) or position).resync_since == 0)
    assert subscriber.calls[-1] == (CHANNEL, None, "latest")
    await cdc.aclose()


async def test_losing_leadership_stops_the_subscription() -> None:
    cdc, _, _, _ = source(FakeSubscriber([]))
    cdc.ensure_running(leader=True)
    task = cdc._tasks["Opportunity"]
    cdc.ensure_running(leader=False)
    assert cdc._tasks == {}
    await cdc.aclose()
    assert task.cancelled()


def test_enabled_only_with_triggers_and_attached_as_a_timer_on_every_worker() -> None:
    cdc, _, _, ctx = source(FakeSubscriber([]))
    assert cdc.enabled()
    timers: list[tuple[float, str, bool]] = []

    def timer(interval: float, **options: Any) -> Any:
        timers.append((interval, options["name"], bool(options.get("on_leader"))))
        return lambda fn: fn

    ctx.app.timer = timer
    cdc.attach()
    assert timers == [(1.0, "salesforce_cdc_source", False)]
    mapping = ctx.mapping.model_copy(
        update={"collection": ctx.mapping.collection.model_copy(update={"triggers": []})}
    )
    without = context(mapping=mapping)
    assert not flow("salesforce_cdc_source", without).enabled()


def test_a_change_is_keyed_by_its_record_id_and_never_by_free_text() -> None:
    opportunity = make_id("006", 4)

    def keyed(record_ids: list[str], replay_id: str = "0a") -> bytes:
        return change_key(
            SalesforceChange(
                topic=CHANNEL,
                entity="Opportunity",
                change_type="UPDATE",
                record_ids=record_ids,
                replay_id=replay_id,
            )
        )

    assert keyed([opportunity]) == opportunity.encode()
    for odd in (["4000 7700 0000 0307"], ["a name, not an id"], []):
        key = keyed(odd)
        assert len(key) == 64 and b"0307" not in key and b"name" not in key
