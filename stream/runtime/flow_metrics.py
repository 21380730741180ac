"""The per-flow metrics, counted by the runtime only (faust's sensor-hook model): a flow never
counts its own in/out/failed/latency, so every flow is measured the same way."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter

from stream import metrics

EVENTS_IGNORED = Counter(
    "paystream_events_ignored_total",
    "Records a flow left alone by design (own write-back, replay for the other sink, ...).",
    ["agent", "reason"],
    registry=metrics.REGISTRY,
)
RECORD_RETRIES = Counter(
    "paystream_record_retries_total",
    "Attempts of one record again after a retriable failure.",
    ["agent"],
    registry=metrics.REGISTRY,
)


def initialise(agent: str, ignored_reasons: Iterable[str] = ()) -> None:
    """Export 0 from the start: rates and dashboards read 0, not "no data", while healthy."""
    for counter in (metrics.EVENTS_IN, metrics.EVENTS_OUT, metrics.EVENTS_FAILED, RECORD_RETRIES):
        counter.labels(agent)
    metrics.PROCESSING_SECONDS.labels(agent)
    for reason in ignored_reasons:
        EVENTS_IGNORED.labels(agent, reason)


def received(agent: str, count: int = 1) -> None:
    metrics.EVENTS_IN.labels(agent).inc(count)


def delivered(agent: str, count: int = 1) -> None:
    metrics.EVENTS_OUT.labels(agent).inc(count)


def ignored(agent: str, reason: str) -> None:
    EVENTS_IGNORED.labels(agent, reason).inc()


def retried(agent: str) -> None:
    RECORD_RETRIES.labels(agent).inc()


def took(agent: str, seconds: float) -> None:
    metrics.PROCESSING_SECONDS.labels(agent).observe(seconds)
