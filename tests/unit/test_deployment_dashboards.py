"""Dashboards and alert rules, checked without Prometheus: they read only metrics that
stream/metrics.py defines, every metric is on a dashboard, every selector honours $worker,
and every alert has a runbook. (tests/integration/test_observability.py asks a real
Prometheus for each expression.)"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.metrics_core import Metric

from scripts import grafana_dashboards
from scripts.promql_inventory import (
    ALERT_RULES,
    DASHBOARDS,
    alert_rules,
    dashboard_queries,
    measure,
    metric_names,
    selectors,
    substitute,
    variable_queries,
)
from stream import metrics

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}


def exported(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in SUFFIXES[family.type]}


def families() -> list[Metric]:
    return list(metrics.REGISTRY.collect())


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_committed_dashboards_are_what_the_generator_writes() -> None:
    assert grafana_dashboards.main(["--check"]) == 0
    assert set(dashboards()) == set(grafana_dashboards.DASHBOARDS)


def test_dashboards_and_alerts_read_only_metrics_that_exist() -> None:
    known = {"up"}.union(*(exported(f) for f in families()))
    for query in dashboard_queries() + variable_queries() + alert_rules():
        names = metric_names(query.expr)
        assert names, f"{query.source} reads no metric: {query.expr}"
        assert names <= known, f"{query.source} reads unknown {names - known}"


def test_every_metric_is_on_a_dashboard() -> None:
    shown = set().union(*(metric_names(q.expr) for q in dashboard_queries()))
    for family in families():
        assert exported(family) & shown, f"{family.name} is on no dashboard"


def test_every_selector_honours_the_worker_variable() -> None:
    for query in dashboard_queries():
        for selector in selectors(query.expr):
            assert 'instance=~"$worker"' in selector, f"{query.source}: {selector}"


def test_topic_selectors_honour_the_topic_variable() -> None:
    for query in dashboard_queries():
        for selector in selectors(query.expr):
            if selector.startswith(("paystream_consumer_lag", "paystream_dead_letters")):
                assert 'topic=~"$topic"' in selector, f"{query.source}: {selector}"


def test_dashboards_have_worker_and_topic_variables_and_one_datasource() -> None:
    uids = set()
    for name, board in dashboards().items():
        uids.add(board["uid"])
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert {"datasource", "worker", "topic"} <= set(variables), name
        assert variables["worker"]["definition"].endswith(", instance)")
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], f"{name}: {panel['title']} has no query"
    assert len(uids) == len(dashboards()), "dashboard uids collide"


def test_panels_fit_the_grid_without_overlapping() -> None:
    for name, board in dashboards().items():
        taken: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{name}: {panel['title']}"
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & taken, f"{name}: {panel['title']} overlaps another panel"
            taken |= cells


def test_overview_answers_the_operators_questions() -> None:
    overview = " ".join(q.expr for q in dashboard_queries() if q.source.startswith("overview"))
    for metric in (
        "paystream_events_out_total",  # is money flowing
        "paystream_processing_seconds_bucket",  # latency
        "paystream_events_failed_total",  # errors
        "paystream_dead_letters_total",
        "paystream_salesforce_api_requests_used",  # API budget
        "paystream_consumer_lag_messages",  # where it is stuck
        "paystream_paytrace_watermark_lag_seconds",
    ):
        assert metric in overview


def test_every_alert_has_a_runbook_severity_and_threshold() -> None:
    rules = [r for g in yaml.safe_load(ALERT_RULES.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} >= {
        "PaystreamDeadLettersGrowing",
        "PaystreamSalesforceApiBudgetLow",
        "PaystreamPayTraceWatermarkLagHigh",
        "PaystreamSinkErrorRateHigh",
        "PaystreamChargesPendingTooLong",
        "PaystreamChargeRefused",
    }
    for rule in rules:
        assert rule["annotations"]["runbook"].strip(), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert measure(rule["expr"]) != rule["expr"], f"{rule['alert']}: no threshold"


def test_known_label_values_are_exported_before_the_first_event() -> None:
    # A fresh process: other tests in this one have counted events already.
    text = subprocess.run(
        [sys.executable, "-c", "from stream import metrics; print(metrics.render().decode())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for outcome in ("requested", "charged", "declined", "failed"):
        assert f'paystream_charges_total{{outcome="{outcome}"}} 0.0' in text
    for system in ("paytrace", "salesforce", "sagepro"):
        assert f'paystream_external_throttled_total{{system="{system}"}}' in text
    assert "paystream_ledger_pending_keys 0.0" in text
    assert "paystream_ledger_oldest_pending_seconds 0.0" in text


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up < 1", "up"),
        ('up{job="a>b"} < 1', 'up{job="a>b"}'),
        ("1 - a / b < 0.10", "1 - a / b"),
        ("max(min_over_time(x[15m])) > 0", "max(min_over_time(x[15m]))"),
        ("sum(rate(a[5m])) / sum(rate(b[5m])) >= 0.05", "sum(rate(a[5m])) / sum(rate(b[5m]))"),
        ("count(x > 1)", "count(x > 1)"),
    ],
)
def test_measure_drops_only_the_top_level_threshold(expr: str, expected: str) -> None:
    assert measure(expr) == expected


@given(
    op=st.sampled_from([">", "<", ">=", "<=", "==", "!="]),
    threshold=st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: f"{f:g}"),
    query=st.sampled_from([q.expr for q in dashboard_queries()]),
)
def test_measure_recovers_any_panel_expression_from_an_alert(
    op: str, threshold: str, query: str
) -> None:
    assert measure(f"{query} {op} {threshold}") == query


def test_substitute_leaves_no_template_variable() -> None:
    for query in dashboard_queries():
        text = substitute(query.expr)
        assert "$" not in text, f"{query.source}: {text}"
    assert substitute('rate(x{instance=~"$worker"}[$__rate_interval])') == (
        'rate(x{instance=~".*"}[1m])'
    )
