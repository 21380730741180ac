"""Live figures per flow from workers' ``/metrics``: rates, consumer lag and dead letters.

Every worker exports the runtime's per-flow counters (stream/runtime/flow_metrics.py), so the
figures are sums over the workers given. Rates are the change between two scrapes of this
studio (the first scrape shows totals only). A worker that does not answer is reported, not
fatal: the page shows what it could read.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stream.runtime.spec import FlowSpec
from stream.settings import KafkaSettings
from stream.topic_names import TOPICS, topic_name

COUNTERS = {
    "paystream_events_in": "in",
    "paystream_events_out": "out",
    "paystream_events_failed": "dead_letters",
}


def parse(text: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per-flow counter totals, and consumer lag per topic, from one exposition text."""
    flows: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    lag: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            kind = COUNTERS.get(sample.name.removesuffix("_total"))
            if kind and "agent" in sample.labels:
                flows[sample.labels["agent"]][kind] += sample.value
            elif sample.name == "paystream_consumer_lag_messages":
                lag[sample.labels.get("topic", "")] += sample.value
    return {k: dict(v) for k, v in flows.items()}, dict(lag)


@dataclass
class LiveMetrics:
    """Scrapes the workers and keeps the previous totals to compute rates."""

    urls: list[str]
    flows: tuple[FlowSpec, ...]
    kafka: KafkaSettings
    _previous: tuple[float, dict[str, dict[str, float]]] | None = None
    errors: list[str] = field(default_factory=list)

    async def scrape(self) -> dict[str, Any]:
        totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        lags: dict[str, float] = defaultdict(float)
        errors = []
        async with httpx.AsyncClient(timeout=3.0) as client:
            for url in self.urls:
                try:
                    response = await client.get(url)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    errors.append(f"{url}: {type(exc).__name__}")
                    continue
                flows, lag = parse(response.text)
                for name, values in flows.items():
                    for kind, value in values.items():
                        totals[name][kind] += value
                for topic, value in lag.items():
                    lags[topic] += value
        now = time.monotonic()
        previous, self._previous = self._previous, (now, {k: dict(v) for k, v in totals.items()})
        out: dict[str, Any] = {}
        for flow in self.flows:
            values = totals.get(flow.name, {})
            entry: dict[str, Any] = {kind: values.get(kind, 0.0) for kind in COUNTERS.values()}
            if previous is not None and now > previous[0]:
                before = previous[1].get(flow.name, {})
                seconds = now - previous[0]
                for kind in ("in", "out"):
                    entry[f"{kind}_per_s"] = max(0.0, values.get(kind, 0) - before.get(kind, 0))
                    entry[f"{kind}_per_s"] /= seconds
            first = flow.reads[0] if flow.reads else ""
            if first in TOPICS:
                entry["lag"] = lags.get(topic_name(self.kafka, first), 0.0)
            out[flow.name] = entry
        return {"flows": out, "errors": errors, "workers": len(self.urls)}
