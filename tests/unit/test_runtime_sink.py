"""The batching sink's per-record guarantees, on a sink class made for the test (no broker)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from connectors.base.errors import ConfigurationError, RecordError, Retriable
from stream import metrics
from stream.runtime import sink as sink_module
from stream.runtime.limits import RecordLimits
from stream.runtime.outcomes import Ignored
from stream.runtime.sink import BatchSink, Item
from stream.runtime.spec import FlowSpec
from tests.unit.flow_fakes import context, dead_letters, incoming


class Order(BaseModel):
    id: str
    amount: int = 1


class Remote:
    """A fake API: records what it wrote; ``fail`` maps an id to what it raises."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.fail: dict[str, BaseException] = {}
        self.down = 0  # raise Retriable for everyone this many more calls

    async def write(self, order: Order) -> None:
        if self.down:
            self.down -= 1
            raise Retriable("503", system="remote", status=503)
        if order.id in self.fail:
            raise self.fail[order.id]
        self.written.append(order.id)


class OrderSink(BatchSink[Order]):
    model = Order
    remote = Remote()

    async def write_one(self, item: Item[Order]) -> None:
        if item.value.id == "ignore-me":
            raise Ignored("by_design")
        if item.value.id == "bug":
            raise KeyError("a bug that a value triggered")
        await self.remote.write(item.value)


def build(limits: RecordLimits | None = None) -> tuple[OrderSink, Any]:
    ctx = context(limits=limits)
    spec = FlowSpec("order_sink", OrderSink, reads=("payments",), writes=(), replay_sink="sagepro")
    sink = OrderSink(ctx, spec)
    sink.remote = Remote()
    return sink, ctx


@pytest.fixture(autouse=True)
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "FIRST_PAUSE_SECONDS", 0.001)


def order(id_: str, offset: int) -> Any:
    return incoming(Order(id=id_), key=id_, offset=offset)


async def test_bad_records_are_dead_lettered_and_the_rest_of_the_batch_written() -> None:
    sink, ctx = build()
    sink.remote.fail["refused"] = RecordError("no such customer", system="remote", code="X")
    records = [
        order("a", 0),
        incoming(b"{not json", key="b", offset=1),
        incoming(b"[" * 500 + b"]" * 500, key="c", offset=2),
        incoming(b'{"id": "' + b"x" * 300_000 + b'"}', key="d", offset=3),
        order("refused", 4),
        order("bug", 5),
        order("ignore-me", 6),
        order("e", 7),
    ]
    await sink.handle(records)
    assert sink.remote.written == ["a", "e"]
    reasons = {letter.source_offset: letter.reason for letter in dead_letters(ctx)}
    assert reasons == {
        1: "malformed",
        2: "json_too_deep",
        3: "record_too_large",
        4: "remote:X",
        5: "unexpected:KeyError",
    }
    for letter in dead_letters(ctx):
        assert len(letter.model_dump_json()) < 40_000  # bounded, whatever came in


async def test_a_record_failing_while_others_succeed_is_dead_lettered_after_its_budget() -> None:
    sink, ctx = build(RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2))
    sink.remote.fail["stuck"] = Retriable("PayTrace 500 for this id", system="paytrace")
    await sink.handle([order("stuck", 0), order("ok", 1)])
    assert sink.remote.written == ["ok"]
    [letter] = dead_letters(ctx)
    assert letter.reason == "retries_exhausted" and "PayTrace 500" in letter.error


async def test_a_lone_failing_record_is_dead_lettered_when_a_probe_finds_the_system_up() -> None:
    # Nothing else in its batch got through (a held batch reads nothing new): the probe tells.
    sink, ctx = build(RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2))
    sink.remote.fail["stuck"] = Retriable("500 for this id only", system="paytrace", status=500)
    await sink.handle([order("stuck", 0)])
    [letter] = dead_letters(ctx)
    assert letter.reason == "retries_exhausted"
    assert ctx.connectors.probed == ["paytrace"]


async def test_a_lone_failing_record_is_held_while_the_probe_fails_too() -> None:
    sink, ctx = build(RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=2))
    sink.remote.fail["stuck"] = Retriable("503", system="paytrace", status=503)
    ctx.connectors.down.add("paytrace")

    probes = ctx.connectors.probed

    class EndsAfterThreeProbes(list[str]):
        def append(self, system: str) -> None:
            super().append(system)
            if len(self) == 3:  # the outage ends: the held record goes through
                del sink.remote.fail["stuck"]
                ctx.connectors.down.discard("paytrace")

    ctx.connectors.probed = EndsAfterThreeProbes(probes)
    await sink.handle([order("stuck", 0)])
    assert sink.remote.written == ["stuck"] and dead_letters(ctx) == []


async def test_an_outage_for_everyone_is_held_then_everything_delivered() -> None:
    sink, ctx = build(RecordLimits(retry_budget_seconds=0.01, retry_budget_attempts=1))
    sink.remote.down = 6  # every record fails a few rounds: nobody succeeds meanwhile
    # and a probe finds it down too (however long the rounds take on a loaded machine)
    ctx.connectors.down.add("remote")
    await sink.handle([order("a", 0), order("b", 1)])
    assert sorted(sink.remote.written) == ["a", "b"]
    assert dead_letters(ctx) == []


async def test_later_states_of_a_key_wait_for_the_earlier_one() -> None:
    sink, _ = build()
    sink.remote.down = 1
    first, second = (
        incoming(Order(id="a", amount=1), key="a"),
        incoming(Order(id="a", amount=2), key="a", offset=1),
    )
    await sink.handle([first, second])
    assert sink.remote.written == ["a", "a"]


async def test_replayed_for_the_other_sink_is_ignored_and_counted() -> None:
    sink, ctx = build()
    before = (
        metrics.REGISTRY.get_sample_value(
            "paystream_events_ignored_total",
            {"agent": "order_sink", "reason": "replayed_for_other_sink"},
        )
        or 0.0
    )
    record = incoming(Order(id="a"), headers=(("paystream-replay-sink", b"salesforce"),))
    await sink.handle([record])
    assert sink.remote.written == []
    after = metrics.REGISTRY.get_sample_value(
        "paystream_events_ignored_total",
        {"agent": "order_sink", "reason": "replayed_for_other_sink"},
    )
    assert after == before + 1
    assert dead_letters(ctx) == []


async def test_a_configuration_error_stops_the_worker_and_commits_nothing() -> None:
    sink, ctx = build()
    sink.remote.fail["a"] = ConfigurationError("403 forbidden", system="remote", status=403)
    from stream.runtime.base import StopWorker

    with pytest.raises(StopWorker):
        await sink.handle([order("a", 0)])
    assert isinstance(ctx.app.crashed, StopWorker)
    assert dead_letters(ctx) == []
