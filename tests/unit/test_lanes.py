"""Lanes (``PAYSTREAM_WORKER_LANES``, ``paystream worker --lanes``): by default a worker runs
every lane in the plain app id, as before; a worker of some lanes runs only their flows, in a
consumer group of its own; an unknown lane is refused before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stream import sandbox
from stream.cli import app as cli
from stream.pipeline import build
from stream.settings import KafkaSettings, WorkerSettings
from stream.topology import (
    FLOWS,
    LANES,
    TABLES,
    LaneError,
    describe,
    flows_for,
    group_id,
    lanes_of,
    topic_specs,
)
from stream.worker import run_worker

KAFKA = KafkaSettings(partitions=4, topic_prefix="acme")
SAGEPRO_SINKS = {"sagepro_payment_sink", "sagepro_dispute_sink"}


def _worker(*lanes: str, **values: Any) -> WorkerSettings:
    return WorkerSettings(app_id="acme", worker_lanes=lanes, **values)


def test_the_sagepro_lane_holds_the_sage_pro_sinks_and_everything_else_is_core() -> None:
    assert LANES == ("core", "sagepro")
    assert {f.name for f in FLOWS if f.lane == "sagepro"} == SAGEPRO_SINKS
    assert {f.lane for f in FLOWS if f.name not in SAGEPRO_SINKS} == {"core"}
    assert all(f.lane == "core" for f in FLOWS if f.kind == "source")


def test_by_default_a_worker_runs_every_lane_in_the_plain_app_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PAYSTREAM_WORKER_LANES", raising=False)
    worker = WorkerSettings(app_id="acme")
    assert worker.worker_lanes == ()
    assert lanes_of(worker) == LANES
    assert flows_for(worker) == FLOWS
    assert group_id(worker) == "acme"
    # Naming every lane, or "all", is the same worker.
    for same in (_worker("all"), _worker("sagepro", "core"), _worker("core", "core", "sagepro")):
        assert flows_for(same) == FLOWS and group_id(same) == "acme"
        assert topic_specs(KAFKA, same) == topic_specs(KAFKA, worker)


@pytest.mark.parametrize(
    ("value", "lanes"),
    [
        ("sagepro", ("sagepro",)),
        (" core , sagepro ", ("core", "sagepro")),
        ("core,", ("core",)),
        ("all", ()),
        ("", ()),
    ],
)
def test_the_setting_is_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str, lanes: tuple[str, ...]
) -> None:
    monkeypatch.setenv("PAYSTREAM_WORKER_LANES", value)
    assert WorkerSettings().worker_lanes == lanes


def test_flows_for_a_lane_are_its_flows_in_topology_order() -> None:
    core, sage = flows_for(_worker("core")), flows_for(_worker("sagepro"))
    assert {f.name for f in sage} == SAGEPRO_SINKS
    assert core == tuple(f for f in FLOWS if f.name not in SAGEPRO_SINKS)
    # Risk scoring off still leaves out only the risk flows (all in core).
    off = flows_for(_worker("core", risk_scoring=False))
    assert {f.name for f in core} - {f.name for f in off} == {
        "risk_keyer",
        "payment_risk_scorer",
        "risk_action_sink",
    }
    assert flows_for(_worker("sagepro", risk_scoring=False)) == sage


def test_a_worker_of_some_lanes_is_a_group_of_its_own() -> None:
    assert group_id(_worker("sagepro")) == "acme-lane-sagepro"
    # The core lane keeps the app id: splitting into lanes keeps its offsets and tables.
    assert group_id(_worker("core")) == "acme"
    assert group_id(_worker()) == "acme"


def test_changelogs_and_leader_topic_follow_the_lane_group() -> None:
    core = {s.name for s in topic_specs(KAFKA, _worker("core"))}
    sage = {s.name for s in topic_specs(KAFKA, _worker("sagepro"))}
    shared = {s.name for s in topic_specs(KAFKA, _worker()) if not s.name.startswith("acme-")}
    assert core == {s.name for s in topic_specs(KAFKA, _worker())}
    assert sage - shared == {"acme-lane-sagepro-__assignor-__leader"}  # its sinks keep no table


def test_an_unknown_lane_is_refused() -> None:
    with pytest.raises(LaneError, match=r"unknown lane.*sagepr0.*core, sagepro"):
        lanes_of(_worker("core", "sagepr0"))
    with pytest.raises(LaneError):
        flows_for(_worker("sagepr0"))
    # The worker refuses before it starts anything (no broker, no topics): exit 2.
    assert run_worker(_worker("sagepr0"), KafkaSettings(bootstrap="127.0.0.1:9")) == 2


def test_the_worker_command_takes_lanes_and_refuses_an_unknown_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = {system: "http://127.0.0.1:9" for system in sandbox.SYSTEMS}
    for name, value in sandbox.worker_env(urls).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PAYSTREAM_ENV", raising=False)
    monkeypatch.setenv("PAYSTREAM_WORKER_LANES", "core")
    result = CliRunner().invoke(cli, ["worker", "--lanes", "sagepro,nightly"])
    assert result.exit_code == 2
    assert "unknown lane(s) nightly" in result.output


def test_exactly_once_refuses_a_lane_that_writes_what_it_does_not_read() -> None:
    # Faust sends a topic transactionally only if an agent of the same app reads it: the Sage
    # Pro sinks' dead letters are read by the core lane's monitor.
    with pytest.raises(LaneError, match="deadletter"):
        lanes_of(_worker("sagepro", processing_guarantee="exactly_once"))
    assert lanes_of(_worker("core", processing_guarantee="exactly_once")) == ("core",)
    assert lanes_of(_worker(processing_guarantee="exactly_once")) == LANES


def test_a_lane_worker_is_built_with_its_flows_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {system: "http://127.0.0.1:9" for system in sandbox.SYSTEMS}
    for name, value in sandbox.worker_env(urls).items():
        monkeypatch.setenv(name, value)
    sage = build(_worker("sagepro", data_dir=tmp_path / "s"), KAFKA, "127.0.0.1:9").app
    assert sage.conf.id == "acme-lane-sagepro"
    assert set(sage.agents) == SAGEPRO_SINKS
    assert not sage.tables
    core = build(_worker("core", data_dir=tmp_path / "c"), KAFKA, "127.0.0.1:9").app
    assert core.conf.id == "acme"
    assert set(core.agents) == {f.name for f in FLOWS if f.kind != "source"} - SAGEPRO_SINKS
    assert set(core.tables) == set(TABLES)


def test_topology_prints_each_flows_lane() -> None:
    text = describe(KAFKA)
    for flow in FLOWS:
        assert f"[{flow.kind}] {flow.name} (lane {flow.lane})" in text
