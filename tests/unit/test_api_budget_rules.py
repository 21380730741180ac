"""The Salesforce API budget (stream/runtime/api_budget.py) and the sinks that follow it: the
tight state and its log lines and metrics, refreshing an old header, a paused flow, an urgent
one, and a collection writer holding records to fill a call (stream/runtime/fill.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from pydantic import BaseModel

from connectors.base.errors import RateLimited
from connectors.salesforce.models import ApiUsage
from stream import metrics
from stream.runtime.api_budget import ApiBudget, budget_for
from stream.runtime.fill import Filler, Held
from stream.runtime.records import Incoming
from stream.runtime.sink import BatchSink, Item
from stream.runtime.spec import BudgetRole, FlowSpec
from stream.topology import FLOWS
from tests.unit.flow_fakes import FakeConnectors, context, incoming


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Org:
    """A Salesforce client as the budget sees it: the last ``Sforce-Limit-Info`` it read."""

    def __init__(self, used: int | None, limit: int = 1000, clock: Any = None) -> None:
        self.clock = clock or time.monotonic
        self.api_usage = ApiUsage(used, limit) if used is not None else None
        self.api_usage_at: float | None = None if used is None else self.clock()
        self.refreshes = 0
        self.on_refresh: tuple[int, int] | None = None  # what /limits will answer
        self.refuse = False  # /limits answers 403 REQUEST_LIMIT_EXCEEDED (with the header)

    def set(self, used: int, limit: int = 1000) -> None:
        self.api_usage = ApiUsage(used, limit)
        self.api_usage_at = self.clock()

    async def refresh_api_usage(self) -> None:
        self.refreshes += 1
        await asyncio.sleep(0)
        if self.on_refresh is not None:
            self.set(*self.on_refresh)
        if self.refuse:
            raise RateLimited("TotalRequests Limit exceeded.", system="salesforce", status=403)


def throttled(flow: str) -> float:
    value: float = metrics.API_BUDGET_THROTTLED.labels(flow)._value.get()
    return value


def budget(org: Org, clock: Any = None, recheck: float = 60.0) -> ApiBudget:
    made = ApiBudget(0.9, 0.05, recheck, lambda: org, **({"clock": clock} if clock else {}))
    made.register("t_payments", BudgetRole.FILL)
    made.register("t_risk", BudgetRole.PAUSE)
    made.register("t_charges", BudgetRole.URGENT)
    return made


# -- the tight state -----------------------------------------------------------------------


def test_tight_above_the_share_with_one_log_line_each_way_and_metrics(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    org = Org(800, clock=clock)
    b = budget(org, clock)
    caplog.set_level(logging.WARNING, logger="stream.runtime.api_budget")
    assert b.check() is False
    assert [throttled(f) for f in ("t_payments", "t_risk", "t_charges")] == [0, 0, 0]
    org.set(901)
    assert b.check() is True
    org.set(950)
    assert b.check() is True
    assert [throttled(f) for f in ("t_payments", "t_risk", "t_charges")] == [1, 1, 0]
    # Just below the share is not room yet: usage hovering there does not flip the state.
    org.set(890)
    assert b.check() is True
    org.set(870)
    assert b.check() is False
    assert [throttled(f) for f in ("t_payments", "t_risk", "t_charges")] == [0, 0, 0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "901 of 1000" in lines[0] and "pausing t_risk" in lines[0]
    assert "t_payments" in lines[0] and "t_charges" not in lines[0]
    assert "870 of 1000" in lines[1] and "resuming t_risk" in lines[1]


def test_exactly_the_share_is_not_above_it() -> None:
    org = Org(900, clock=Clock())
    assert budget(org).check() is False


def test_no_header_yet_or_no_limit_is_not_tight() -> None:
    assert budget(Org(None, clock=Clock())).check() is False
    assert budget(Org(0, limit=0, clock=Clock())).check() is False


def test_ratio_gauge_follows_every_header() -> None:
    metrics.PrometheusObserver().salesforce_limits(4600, 5000)
    assert metrics.SALESFORCE_API_USAGE_RATIO._value.get() == pytest.approx(0.92)


# -- refreshing the header -----------------------------------------------------------------


async def test_look_refreshes_an_unknown_or_old_header_once_for_everyone() -> None:
    clock = Clock()
    org = Org(None, clock=clock)
    org.on_refresh = (950, 1000)
    b = budget(org, clock, recheck=60)
    assert await asyncio.gather(b.look(), b.look(), b.look()) == [True, True, True]
    assert org.refreshes == 1
    clock.now += 30  # a fresh header: no call
    assert await b.look() is True and org.refreshes == 1
    org.on_refresh = (10, 1000)  # a new day
    clock.now += 31
    assert await b.look() is False and org.refreshes == 2


async def test_with_room_an_old_header_costs_no_call() -> None:
    clock = Clock()
    org = Org(100, clock=clock)
    b = budget(org, clock, recheck=60)
    clock.now += 3600  # idle for an hour: the flow's own next call will bring a header
    assert await b.look() is False and org.refreshes == 0


async def test_a_header_other_calls_keep_fresh_needs_no_refresh() -> None:
    clock = Clock()
    org = Org(950, clock=clock)
    b = budget(org, clock, recheck=60)
    for _ in range(5):
        clock.now += 20
        org.set(950)  # the payment sink's calls read it
        assert await b.look() is True
    assert org.refreshes == 0


async def test_refused_refresh_still_reads_the_header() -> None:
    clock = Clock()
    org = Org(None, clock=clock)
    org.on_refresh = (1000, 1000)
    org.refuse = True
    assert await budget(org, clock).look() is True


def test_budget_for_is_one_per_worker_from_its_settings() -> None:
    ctx = context(connectors=FakeConnectors(salesforce_client=Org(None)))
    first = budget_for(ctx)
    assert budget_for(ctx) is first
    assert first.share == 0.9 and first.linger_seconds == 30 and first.recheck_seconds == 60


def test_every_flow_that_writes_salesforce_declares_its_budget_role() -> None:
    for flow in FLOWS:
        writes_salesforce = any(w.startswith("Salesforce:") for w in flow.writes)
        assert (flow.salesforce_budget is not None) == writes_salesforce, flow.name
    roles = {f.name: f.salesforce_budget for f in FLOWS if f.salesforce_budget}
    assert roles["salesforce_payment_sink"] is BudgetRole.FILL
    assert roles["charge_agent"] is BudgetRole.URGENT


# -- sinks under a tight budget --------------------------------------------------------------


class Score(BaseModel):
    id: str


class ScoreSink(BatchSink[Score]):
    model = Score

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: list[str] = []

    async def write_one(self, item: Item[Score]) -> None:
        self.written.append(item.value.id)


def score_sink(role: BudgetRole, org: Org) -> ScoreSink:
    ctx = context(connectors=FakeConnectors(salesforce_client=org))
    ctx.api_budget = ApiBudget(0.9, 0.05, 0.02, lambda: org)
    spec = FlowSpec(
        f"t_{role}", ScoreSink, reads=("payments_risk",), writes=(), salesforce_budget=role
    )
    return ScoreSink(ctx, spec)


async def test_a_paused_flow_writes_nothing_until_usage_falls() -> None:
    org = Org(950)
    sink = score_sink(BudgetRole.PAUSE, org)
    task = asyncio.create_task(sink.handle([incoming(Score(id="a"), key="a")]))
    await asyncio.sleep(0.3)
    assert not task.done() and sink.written == []
    assert org.refreshes >= 2  # it kept asking, since nothing else refreshed the header
    org.on_refresh = (5, 1000)  # the next day
    await asyncio.wait_for(task, 10)
    assert sink.written == ["a"]


async def test_an_urgent_flow_writes_at_once_when_tight() -> None:
    org = Org(990)
    sink = score_sink(BudgetRole.URGENT, org)
    await asyncio.wait_for(sink.handle([incoming(Score(id="c"), key="c")]), 5)
    assert sink.written == ["c"]


# -- filling collections ---------------------------------------------------------------------


def test_held_records_go_in_full_chunks_then_the_rest_after_the_linger() -> None:
    held = Held()
    records = [incoming(Score(id=str(i)), offset=i) for i in range(450)]
    held.add(list(range(450)), records, now=0.0)
    chunks = held.due(200, 30, now=1.0, tight=True)
    assert [len(c) for c in chunks] == [200, 200] and len(held) == 50
    assert [e for e, _, _ in chunks[0]] == list(range(200))
    assert held.due(200, 30, now=29.0, tight=True) == [] and held.next_due(30) == 30.0
    assert [e for e, _, _ in held.due(200, 30, now=30.0, tight=True)[0]] == list(range(400, 450))
    held.add([1], records[:1], now=40.0)
    assert len(held.due(200, 30, now=41.0, tight=False)[0]) == 1  # room again: no wait


class Message:
    def __init__(self, offset: int) -> None:
        self.offset = offset
        self.refcount = 1
        self.key = f"k{offset}".encode()
        self.value = Score(id=str(offset)).model_dump_json().encode()
        self.headers: list[Any] = []
        self.topic = "payments"
        self.partition = 0

    def incref(self) -> None:
        self.refcount += 1


class Event:
    def __init__(self, offset: int) -> None:
        self.message = Message(offset)


class Stream:
    """take_events' side: acks each event once its batch body returned, as Faust does."""

    def __init__(self) -> None:
        self.committed: list[int] = []

    async def ack(self, event: Event) -> None:
        event.message.refcount -= 1
        if event.message.refcount == 0:
            self.committed.append(event.message.offset)

    async def batch(self, filler: Filler, events: list[Event]) -> None:
        await filler.batch(events)
        for event in events:
            await self.ack(event)


async def test_a_collection_writer_holds_batches_uncommitted_until_the_linger() -> None:
    org = Org(950)
    stream = Stream()
    calls: list[list[str]] = []

    async def handle(records: list[Incoming]) -> None:
        calls.append([r.key.decode() for r in records if r.key])

    async def crash(exc: BaseException) -> None:
        raise AssertionError(f"crashed: {exc!r}")

    b = ApiBudget(0.9, 0.3, 60, lambda: org)
    filler = Filler(stream, handle, b, 200, crash)
    await stream.batch(filler, [Event(0), Event(1)])
    await stream.batch(filler, [Event(2)])
    assert calls == [] and stream.committed == []  # held: nothing written, nothing committed
    for _ in range(100):
        if calls:
            break
        await asyncio.sleep(0.05)
    assert calls == [["k0", "k1", "k2"]]  # one call for both batches, in order
    assert stream.committed == [0, 1, 2]
    org.set(100)  # room again: written as it comes
    await stream.batch(filler, [Event(3)])
    assert calls[-1] == ["k3"] and stream.committed[-1] == 3
    filler.close()


async def test_a_full_collection_is_written_at_once() -> None:
    org = Org(950)
    stream = Stream()
    sizes: list[int] = []

    async def handle(records: list[Incoming]) -> None:
        sizes.append(len(records))

    async def crash(exc: BaseException) -> None:
        raise AssertionError(f"crashed: {exc!r}")

    filler = Filler(stream, handle, ApiBudget(0.9, 60, 60, lambda: org), 200, crash)
    await stream.batch(filler, [Event(i) for i in range(150)])
    await stream.batch(filler, [Event(i) for i in range(150, 260)])
    assert sizes == [200] and stream.committed == list(range(200))
    filler.close()
