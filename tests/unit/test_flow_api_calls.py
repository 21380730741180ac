"""Metered API calls counted under the flow that made them, and the demo's sum of them."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.charge_agent import ChargeAgent
from agents.salesforce_sink import SalesforcePaymentSink
from stream import metrics
from stream.demo.api_calls import calls_by_flow
from stream.running_flow import OUTSIDE_FLOWS, running_flow
from stream.runtime.processor import StreamProcessor
from stream.runtime.spec import FlowSpec
from stream.topology import FLOWS, flow_named
from tests.unit.flow_fakes import context

CHARGES, PAYMENTS = flow_named(ChargeAgent), flow_named(SalesforcePaymentSink)


def sample(system: str, flow: str) -> float:
    labels = {"system": system, "flow": flow}
    return metrics.REGISTRY.get_sample_value("paystream_flow_api_calls_total", labels) or 0.0


def test_token_and_pubsub_calls_are_not_metered() -> None:
    assert metrics.metered_call("sobjects.update")
    assert metrics.metered_call("composite.sobjects.upsert")
    assert not metrics.metered_call("oauth2.token")
    assert not metrics.metered_call("/oauth/token")
    assert not metrics.metered_call("pubsub.Subscribe")


async def test_a_call_is_counted_under_the_flow_running_it_and_its_tasks() -> None:
    flow: StreamProcessor[Any] = StreamProcessor(
        context(), FlowSpec("counting_flow", StreamProcessor, (), ())
    )
    observer = metrics.PrometheusObserver()
    before = sample("salesforce", "counting_flow")
    outside = sample("salesforce", OUTSIDE_FLOWS)

    async def body() -> str:
        observer.call("salesforce", "sobjects.get", "ok", 0.01)
        observer.call("salesforce", "oauth2.token", "ok", 0.01)  # not metered

        async def child() -> None:  # a task the flow starts is the flow's too
            observer.call("salesforce", "query", "ok", 0.01)

        await asyncio.create_task(child())
        return running_flow()

    assert await asyncio.create_task(flow.as_flow(body)()) == "counting_flow"
    assert sample("salesforce", "counting_flow") == before + 2
    observer.call("salesforce", "limits", "ok", 0.01)  # outside every flow
    assert sample("salesforce", OUTSIDE_FLOWS) == outside + 1


async def test_a_timer_of_a_flow_runs_as_that_flow() -> None:
    ctx = context()
    registered: list[tuple[float, dict[str, Any], Any]] = []
    ctx.app.timer = lambda seconds, **options: lambda fn: registered.append((seconds, options, fn))
    flow: StreamProcessor[Any] = StreamProcessor(
        ctx, FlowSpec("ticking_flow", StreamProcessor, (), ())
    )
    seen: list[str] = []

    async def tick() -> None:
        seen.append(running_flow())

    flow.every(5.0, tick, name="tick", on_leader=True)
    [(seconds, options, body)] = registered
    assert (seconds, options) == (5.0, {"on_leader": True, "name": "tick"})
    await asyncio.create_task(body())
    assert seen == ["ticking_flow"]


def page(*samples: tuple[str, str, float]) -> str:
    lines = [
        f'paystream_flow_api_calls_total{{system="{system}",flow="{flow}"}} {value}'
        for system, flow, value in samples
    ]
    return "# TYPE paystream_flow_api_calls_total counter\n" + "\n".join(lines) + "\n"


def test_the_demo_sums_each_flow_over_the_workers_pages() -> None:
    first = page(
        ("salesforce", CHARGES, 3.0), ("sagepro", CHARGES, 9.0), ("salesforce", "worker", 1.0)
    )
    second = page(("salesforce", CHARGES, 2.0), ("salesforce", PAYMENTS, 4.0))
    totals = calls_by_flow([first, second])
    assert set(totals) == {spec.name for spec in FLOWS} | {OUTSIDE_FLOWS}
    assert totals[CHARGES] == 5 and totals[PAYMENTS] == 4 and totals[OUTSIDE_FLOWS] == 1
    assert sum(totals.values()) == 10  # salesforce only: Sage Pro's calls are not in it
