"""The benchmarks' core functions on tiny inputs: result structure only, never timings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench.broker_passthrough import run_broker_passthrough
from bench.cli import BENCHMARKS, main, parse_args
from bench.records import raw_records
from bench.result import BenchResult
from bench.risk import roc_auc, run_risk
from bench.salesforce_sink import run_salesforce_sink
from bench.transform import run_transform
from schemas.raw import RawPayTraceTransaction

TINY = 20


def assert_well_formed(result: BenchResult, name: str, metrics: set[str]) -> None:
    assert result.name == name
    assert result.records == TINY
    assert result.repeats == 1
    assert {m.name for m in result.metrics} == metrics
    for metric in result.metrics:
        assert metric.subject > 0 and math.isfinite(metric.subject)
        assert metric.baseline > 0 and math.isfinite(metric.baseline)
        assert metric.ratio == pytest.approx(metric.subject / metric.baseline)
        assert metric.subject_runs == (metric.subject,)  # one repetition: it is the median
        assert metric.baseline_runs == (metric.baseline,)
    encoded = json.loads(json.dumps(result.as_dict()))
    assert [m["ratio"] for m in encoded["metrics"]] == [m.ratio for m in result.metrics]


def test_records_are_what_the_source_publishes() -> None:
    values = raw_records(TINY)
    raws = [RawPayTraceTransaction.model_validate_json(v) for v in values]
    assert len({r.record["transaction_id"] for r in raws}) == TINY
    assert {r.record["transaction_type"] for r in raws} >= {"SALE", "AUTHORIZATION", "REFUND"}
    # record_payload keeps PayTrace's own time format.
    assert all("M" in r.record["created"]["at"] for r in raws)
    assert raw_records(3) == values[:3]  # deterministic


def test_transform() -> None:
    result = run_transform(TINY, repeats=1)
    assert_well_formed(result, "transform", {"throughput", "cpu"})


def test_risk_reports_quality_and_cost_against_the_normalizer() -> None:
    result = run_risk(TINY, repeats=1)
    assert_well_formed(result, "risk", {"throughput", "cpu", "cpu_with_keyer"})
    for name in ("precision", "recall", "roc_auc"):
        assert 0.0 <= result.notes[name] <= 1.0
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75


async def test_salesforce_sink_counts_api_calls() -> None:
    result = await run_salesforce_sink(TINY, repeats=1)
    assert_well_formed(result, "salesforce_sink", {"throughput", "api_calls"})
    calls = result.metric("api_calls")
    assert calls.baseline == 1000  # one call per record
    assert calls.subject == 1000 / TINY  # 20 records fit in one collection call


async def test_broker_passthrough(tmp_path: Path) -> None:
    result = await run_broker_passthrough(TINY, repeats=1, data_dir=tmp_path)
    assert_well_formed(result, "broker_passthrough", {"throughput", "cpu"})
    assert result.notes["partitions"] == 4


def test_cli_options() -> None:
    args = parse_args(["--records", "5", "--only", "transform", "--json"])
    assert (args.records, args.only, args.json, args.repeats) == (5, ["transform"], "-", 3)
    assert {"transform", "salesforce_sink", "broker_passthrough", "risk"} <= set(BENCHMARKS)
    workers = {
        "worker_normalizer",
        "worker_idle",
        "worker_drain",
        "worker_latency",
        "worker_memory",
    }
    assert workers <= set(BENCHMARKS)
    with pytest.raises(SystemExit):
        parse_args(["--only", "nope"])


def test_cli_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    code = main(["--only", "transform", "--records", "10", "--repeats", "1", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["command"].endswith(f"--json {out}")
    assert [r["name"] for r in report["results"]] == ["transform"]
    throughput = report["results"][0]["metrics"][0]
    assert throughput["ratio_runs"] == [throughput["subject"] / throughput["baseline"]]
