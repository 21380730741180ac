"""The topology table agrees with itself, with the worker that is built from it, and with Faust."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import pytest

from stream import sandbox
from stream.pipeline import build
from stream.runtime.source import PolledSource
from stream.settings import KafkaSettings, WorkerSettings
from stream.topic_names import EXTERNAL_WRITERS
from stream.topology import (
    FLOWS,
    POSITION_TOPICS,
    TABLES,
    TOPICS,
    describe,
    topic_name,
    topic_specs,
)

KAFKA = KafkaSettings(partitions=6, topic_prefix="acme")


def _external(name: str) -> bool:
    """A system outside Kafka: 'PayTrace API: ...', 'Salesforce: ...', 'metric ...'."""
    return ":" in name or name.startswith("metric ")


def _ends() -> list[str]:
    return [name for flow in FLOWS for name in (*flow.reads, *flow.writes)]


def test_every_endpoint_is_a_topic_the_watermark_or_an_external_system() -> None:
    for name in _ends():
        assert name in TOPICS or name in POSITION_TOPICS or _external(name), name
        assert not (name in TOPICS and _external(name))


def test_every_topic_is_written_and_read_within_the_pipeline() -> None:
    written = {w for flow in FLOWS for w in flow.writes}
    read = {r for flow in FLOWS for r in flow.reads}
    for logical in TOPICS:
        assert logical in written or logical in EXTERNAL_WRITERS, f"nobody writes {logical}"
        assert logical in read, f"nobody reads {logical}"
    assert set(POSITION_TOPICS) <= written


def test_flow_tables_are_the_declared_tables() -> None:
    assert {t for flow in FLOWS for t in flow.tables} == set(TABLES)


def test_agents_and_flows_name_the_same_things() -> None:
    names = [flow.name for flow in FLOWS]
    assert len(names) == len(set(names))
    assert {flow.kind for flow in FLOWS} <= {"source", "stream", "sink"}
    # Sources are timers of the app (they poll an API); everything else is a Faust agent.
    assert {f.kind for f in FLOWS if f.kind == "source"} <= {"source"}
    for flow in FLOWS:
        assert flow.cls.kind == flow.kind
    for flow in FLOWS:
        if flow.kind == "source":
            assert all(_external(r) for r in flow.reads)
        else:
            assert all(r in TOPICS for r in flow.reads)


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[str, bool]]]:
    """A worker's app, built as ``paystream worker`` builds it (nothing is started)."""
    timers: list[tuple[str, bool]] = []
    original = faust.App.timer

    def recording(self: faust.App, interval: float, **options: Any) -> Callable[..., Any]:
        timers.append((options.get("name") or "", bool(options.get("on_leader"))))
        return original(self, interval, **options)

    monkeypatch.setattr(faust.App, "timer", recording)
    urls = {system: "http://127.0.0.1:9" for system in sandbox.SYSTEMS}
    for name, value in sandbox.worker_env(urls).items():
        monkeypatch.setenv(name, value)
    worker = WorkerSettings(data_dir=tmp_path / "worker", app_id="acme-payments")
    return build(worker, KAFKA, "127.0.0.1:9"), timers


def test_the_built_worker_runs_what_the_flows_say(
    built: tuple[Any, list[tuple[str, bool]]],
) -> None:
    ctx, timers = built
    app = ctx.app
    assert set(app.agents) == {f.name for f in FLOWS if f.kind != "source"}
    for flow in FLOWS:
        if flow.kind == "source":
            # Polled sources are leader-only timers; the CDC source's timer runs on every
            # worker and keeps its long-lived subscriptions alive only while that worker leads.
            leader_only = issubclass(flow.cls, PolledSource)
            assert (flow.name, leader_only) in timers
            continue
        subscribed = set(app.agents[flow.name].channel.topics)
        assert subscribed == {topic_name(KAFKA, r) for r in flow.reads}
    assert set(app.tables) == set(TABLES)
    assert set(ctx.topics) == set(TOPICS)
    for logical, topic in ctx.topics.items():
        assert topic.get_topic_name() == topic_name(KAFKA, logical)
        assert topic.partitions == KAFKA.partitions


def test_topic_specs_name_faust_internal_topics_as_faust_does(
    built: tuple[Any, list[tuple[str, bool]]],
) -> None:
    ctx, _ = built
    app = ctx.app
    specs = {spec.name: spec for spec in topic_specs(KAFKA, ctx.worker)}
    for table in app.tables.values():
        changelog = specs[table.changelog_topic.get_topic_name()]
        assert changelog.compacted
        assert (changelog.partitions or KAFKA.partitions) == KAFKA.partitions
    leader = app._leader_assignor._leader_topic_name
    assert leader in specs and not specs[leader].compacted


def test_topic_specs() -> None:
    worker = WorkerSettings(app_id="acme-payments")
    specs = topic_specs(KAFKA, worker)
    by_name = {spec.name: spec for spec in specs}
    assert len(by_name) == len(specs)
    assert set(by_name) == {
        "acme.paytrace.transactions.raw",
        "acme.payments",
        "acme.deadletter",
        "acme.paytrace.watermark",
        "acme.salesforce.cdc",
        "acme.charges.commands",
        "acme.paytrace.settlements",
        "acme.salesforce.cdc.position",
        "acme-payments-payment-state-changelog",
        "acme-payments-charge-ledger-changelog",
        "acme-payments-subscription-state-changelog",
        "acme.disputes",
        "acme-payments-dispute-cases-changelog",
        "acme.payments.by-customer",
        "acme.payments.risk",
        "acme-payments-risk-state-changelog",
        "acme-payments-__assignor-__leader",
    }
    watermark = by_name["acme.paytrace.watermark"]
    assert watermark.compacted and watermark.partitions == 1
    assert watermark.config() == {"cleanup.policy": "compact"}
    changelog = by_name["acme-payments-payment-state-changelog"]
    assert changelog.compacted and changelog.config() == {"cleanup.policy": "compact"}
    # Everything but the positions gets the configured count: a changelog must match its source.
    positions = {
        by_name["acme.paytrace.watermark"].name,
        by_name["acme.salesforce.cdc.position"].name,
    }
    for spec in specs:
        if spec.name not in positions:
            assert spec.partitions is None
            assert (spec.partitions or KAFKA.partitions) == 6
    for logical in TOPICS:
        assert not by_name[topic_name(KAFKA, logical)].compacted
        assert by_name[topic_name(KAFKA, logical)].config() == {}


def test_describe_lists_every_agent_with_its_topics() -> None:
    text = describe(KAFKA)
    for flow in FLOWS:
        assert f"[{flow.kind}] {flow.name}" in text
        for name in flow.reads:
            shown = name if _external(name) else topic_name(KAFKA, name)
            assert f"    <- {shown}" in text
        for name in flow.writes:
            shown = name if _external(name) else topic_name(KAFKA, name)
            assert f"    -> {shown}" in text
        for table in flow.tables:
            assert f"    table {table}" in text
    assert "-> acme.paytrace.watermark" in text
    assert text.count("[") == len(FLOWS)


def test_describe_defaults_to_the_configured_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYSTREAM_KAFKA_TOPIC_PREFIX", "envprefix")
    assert "<- envprefix.payments" in describe()


def test_no_flow_name_is_declared_outside_the_topology() -> None:
    """The topology is the registry: no module keeps its own list or constant of flow names."""
    root = Path(__file__).resolve().parents[2]
    sources = [
        path
        for folder in ("agents", "stream", "connectors", "scripts", "bench", "schemas")
        for path in (root / folder).rglob("*.py")
        if path != root / "stream" / "topology.py"
    ]
    for flow in FLOWS:
        for path in sources:
            text = path.read_text()
            for quoted in (f'"{flow.name}"', f"'{flow.name}'"):
                assert quoted not in text, f"{path.relative_to(root)} declares {flow.name}"
