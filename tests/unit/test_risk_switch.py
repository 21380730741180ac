"""``PAYSTREAM_RISK_SCORING``: off, a worker is built without the three risk flows and with
everything else as before; on (the default), with them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import pytest

from stream import sandbox
from stream.pipeline import build
from stream.settings import KafkaSettings, WorkerSettings
from stream.topology import FLOWS, RISK_FLOWS, TABLES, TOPICS, flows_for, topic_specs

KAFKA = KafkaSettings(partitions=4, topic_prefix="acme")
RISK_TABLES = {"risk-state"}


def test_the_switch_is_on_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYSTREAM_RISK_SCORING", raising=False)
    assert WorkerSettings().risk_scoring is True
    monkeypatch.setenv("PAYSTREAM_RISK_SCORING", "false")
    assert WorkerSettings().risk_scoring is False


def test_risk_flows_name_entries_of_the_topology() -> None:
    names = [flow.name for flow in FLOWS]
    assert set(RISK_FLOWS) <= set(names)
    risk_tables = {t for flow in FLOWS if flow.name in RISK_FLOWS for t in flow.tables}
    assert risk_tables == RISK_TABLES


def test_flows_for_drops_exactly_the_risk_flows_when_off() -> None:
    assert flows_for(WorkerSettings(risk_scoring=True)) == FLOWS
    off = flows_for(WorkerSettings(risk_scoring=False))
    assert off == tuple(flow for flow in FLOWS if flow.name not in RISK_FLOWS)  # order kept
    assert len(off) == len(FLOWS) - 3


def test_topics_do_not_depend_on_the_switch() -> None:
    on = topic_specs(KAFKA, WorkerSettings(app_id="acme", risk_scoring=True))
    off = topic_specs(KAFKA, WorkerSettings(app_id="acme", risk_scoring=False))
    assert on == off  # switching scoring on later needs no new topic


def test_a_worker_built_with_scoring_off_lacks_only_the_risk_flows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    timers: dict[bool, list[str]] = {True: [], False: []}
    original = faust.App.timer

    def recording(self: faust.App, interval: float, **options: Any) -> Callable[..., Any]:
        timers[self.conf.id.endswith("on")].append(options.get("name") or "")
        return original(self, interval, **options)

    monkeypatch.setattr(faust.App, "timer", recording)
    urls = {system: "http://127.0.0.1:9" for system in sandbox.SYSTEMS}
    for name, value in sandbox.worker_env(urls).items():
        monkeypatch.setenv(name, value)

    def built(risk_scoring: bool) -> Any:
        side = "on" if risk_scoring else "off"
        worker = WorkerSettings(
            data_dir=tmp_path / side, app_id=f"acme-{side}", risk_scoring=risk_scoring
        )
        return build(worker, KAFKA, "127.0.0.1:9")

    on, off = built(True), built(False)
    on_timers, off_timers = timers[True], timers[False]
    agents = {f.name for f in FLOWS if f.kind != "source"}
    assert set(on.app.agents) == agents
    assert set(RISK_FLOWS) <= set(on.app.agents)
    assert set(off.app.agents) == agents - set(RISK_FLOWS)
    for name in off.app.agents:  # what stays reads the same topics
        assert set(off.app.agents[name].channel.topics) == set(on.app.agents[name].channel.topics)
    assert set(on.app.tables) == set(TABLES)
    assert set(off.app.tables) == set(TABLES) - RISK_TABLES
    assert on_timers and sorted(on_timers) == sorted(off_timers)  # risk flows have no timers
    assert set(on.topics) == set(off.topics) == set(TOPICS)
    assert on.replay_sinks == off.replay_sinks
