"""Dashboards and alerts proven by a real Prometheus scraping real `paystream worker` processes.

Two workers run a small mixed workload (approved, declined, voided and refunded sales, a
malformed record, injected throttling and outages) on the embedded broker and the emulators;
Prometheus (Debian's package, installed by scripts/ensure-prometheus.sh when missing) scrapes
them every second. Every expression of every dashboard panel, every template variable and every
alert rule must then be valid and return data, and every series selector they use must match
series: a dashboard cannot silently point at a metric that does not exist.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer

from connectors.salesforce.settings import SalesforceSettings
from scripts.promql_inventory import (
    ALERT_RULES,
    ROOT,
    Query,
    alert_rules,
    dashboard_queries,
    measure,
    selectors,
    substitute,
    variable_labels,
    variable_queries,
)
from stream.broker import free_port
from stream.supervise import WorkerProcess
from stream.topology import TOPICS
from tests.integration.harness import Pipeline, wait_for
from tests.integration.test_pipeline_e2e import make_transactions, salesforce_matches

pytestmark = pytest.mark.integration

ENSURE = ROOT / "scripts" / "ensure-prometheus.sh"
CANNOT_INSTALL = 2  # ensure-prometheus.sh: no apt-get, or not root and no sudo


COMPOSITE = f"/services/data/{SalesforceSettings.model_fields['api_version'].default}/composite"


@dataclass(frozen=True)
class Tools:
    prometheus: str
    promtool: str


@pytest.fixture(scope="module")
def tools() -> Tools:
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        done = subprocess.run(["sh", str(ENSURE)], capture_output=True, text=True, timeout=600)
        if done.returncode == CANNOT_INSTALL:
            pytest.skip(f"Prometheus cannot be installed here: {done.stderr.strip()}")
        assert done.returncode == 0, f"ensure-prometheus.sh failed:\n{done.stdout}{done.stderr}"
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    assert prometheus and promtool, "ensure-prometheus.sh ran but left no prometheus/promtool"
    return Tools(prometheus, promtool)


def promtool(tools: Tools, *args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [tools.promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_alert_rules_pass_promtool_check_and_unit_tests(tools: Tools) -> None:
    checked = promtool(tools, "check", "rules", str(ALERT_RULES))
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked
    tested = promtool(tools, "test", "rules", "paystream.rules.test.yml", cwd=ALERT_RULES.parent)
    assert "SUCCESS" in tested


def test_compose_prometheus_config_is_valid(tools: Tools) -> None:
    # --syntax-only: the rule_files glob names the path inside the container.
    promtool(tools, "check", "config", "--syntax-only", str(ROOT / "prometheus/prometheus.yml"))


@dataclass
class PrometheusServer:
    binary: str
    workdir: Path
    targets: list[str]
    port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERT_RULES)],
            "scrape_configs": [
                {
                    "job_name": "paystream",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        with (self.workdir / "prometheus.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={path}",
                    f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def ready(self, http: httpx.AsyncClient) -> bool:
        assert self._proc is not None and self._proc.poll() is None, "prometheus exited"
        try:
            return (await http.get(f"{self.url}/-/ready", timeout=1.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def api(self, http: httpx.AsyncClient, path: str, **params: str) -> Any:
        response = await http.get(f"{self.url}/api/v1/{path}", params=params, timeout=10.0)
        body = response.json()
        assert body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]


async def start_workload(pipeline: Pipeline) -> dict[str, str]:
    """Faults that make retries and throttling real, a malformed record, mixed payments."""
    await pipeline.control(
        "paytrace",
        "faults",
        {"error_status": 429, "error_count": 1, "error_path_prefix": "/v1/transactions/export"},
    )
    await pipeline.control(
        "salesforce",
        "faults",
        # The sinks' collection writes (retried); not /limits, which the API budget reads
        # once at start without a retry (stream/runtime/api_budget.py).
        {"error_status": 429, "error_count": 1, "error_path_prefix": COMPOSITE},
    )
    await pipeline.control(
        "sagepro", "faults", {"error_status": 503, "error_count": 2, "error_path_prefix": "/api"}
    )
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        raw_topic = pipeline.topic("paytrace_raw")

        async def topic_ready() -> bool:
            return raw_topic in (await producer.client.fetch_all_metadata()).topics()

        await wait_for(topic_ready, "the workers created their topics", 60)
        await producer.send_and_wait(raw_topic, key=b"bad-json", value=b"{not json")
    finally:
        await producer.stop()
    return await make_transactions(pipeline, sales=3)


async def empty_queries(
    server: PrometheusServer, http: httpx.AsyncClient, queries: list[Query]
) -> list[str]:
    """Queries that return no series yet (an invalid one fails the test at once)."""
    empty = []
    for query in queries:
        data = await server.api(http, "query", query=query.expr)
        if not data["result"]:
            empty.append(f"{query.source}: {query.expr}")
    return empty


def everything_to_query() -> list[Query]:
    """Panels, variables, alert measures and the full alert expressions, substituted."""
    panels = [Query(q.source, substitute(q.expr)) for q in dashboard_queries()]
    variables = variable_queries()
    measures = [Query(q.source + " (measure)", measure(q.expr)) for q in alert_rules()]
    sources = [*panels, *variables, *measures, *alert_rules()]
    picked = [Query(f"{q.source} selector", s) for q in sources for s in selectors(q.expr)]
    return [*panels, *variables, *measures, *picked]


async def scalar(server: PrometheusServer, http: httpx.AsyncClient, expr: str) -> float | None:
    result = (await server.api(http, "query", query=expr))["result"]
    return float(result[0]["value"][1]) if result else None


async def test_every_dashboard_and_alert_expression_returns_data(
    pipeline: Pipeline, tools: Tools, tmp_path: Path
) -> None:
    started = time.monotonic()
    workers = [pipeline.start_worker(), pipeline.start_worker()]
    prometheus_dir = tmp_path / "prometheus"
    prometheus_dir.mkdir()
    server = PrometheusServer(
        tools.prometheus, prometheus_dir, [f"127.0.0.1:{w.web_port}" for w in workers]
    )
    server.start()
    try:
        async with httpx.AsyncClient() as http:
            await wait_for(lambda: server.ready(http), "prometheus ready", 120)
            expected = await start_workload(pipeline)
            await wait_for(lambda: salesforce_matches(pipeline, expected), "payments", 90)

            # Every expression is valid (an invalid one fails at once) and returns data.
            queries = everything_to_query()
            pending: list[str] = []

            async def all_return_data() -> bool:
                pending[:] = await empty_queries(server, http, queries)
                return not pending

            try:
                await wait_for(all_return_data, "every expression returns data", 120, every=1.0)
            except AssertionError:
                pytest.fail("no data for:\n" + "\n".join(pending) + "\n" + pipeline.logs())

            await alert_rules_evaluate(server, http)
            await variables_offer_real_values(server, http, pipeline, workers)
            await lag_is_partitioned_and_grows_while_a_sink_is_down(server, http, pipeline)
    finally:
        server.stop()
    assert time.monotonic() - started < 90, "the observability proof got slow"


async def alert_rules_evaluate(server: PrometheusServer, http: httpx.AsyncClient) -> None:
    """Full alert expressions are valid PromQL, and Prometheus evaluates them without errors."""
    for rule in alert_rules():
        await server.api(http, "query", query=rule.expr)
    groups = (await server.api(http, "rules"))["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(loaded) == {q.source.split(": ")[1] for q in alert_rules()}
    assert all(r["health"] == "ok" for r in loaded.values()), loaded


async def variables_offer_real_values(
    server: PrometheusServer,
    http: httpx.AsyncClient,
    pipeline: Pipeline,
    workers: list[WorkerProcess],
) -> None:
    """$worker lists both workers apart (no collision); $topic every consumed topic."""
    labels = variable_labels()
    assert labels == {"worker": "instance", "topic": "topic"}
    instances = await server.api(
        http, "label/instance/values", **{"match[]": "paystream_events_in_total"}
    )
    assert sorted(instances) == sorted(f"127.0.0.1:{w.web_port}" for w in workers)
    topics = await server.api(
        http, "label/topic/values", **{"match[]": "paystream_consumer_lag_messages"}
    )
    consumed = {pipeline.topic(t) for t in TOPICS}  # every pipeline topic has a reading agent
    assert set(topics) == consumed


async def lag_is_partitioned_and_grows_while_a_sink_is_down(
    server: PrometheusServer, http: httpx.AsyncClient, pipeline: Pipeline
) -> None:
    partitions = len(TOPICS) * pipeline.kafka.partitions

    async def each_partition_once() -> bool:
        result = (
            await server.api(
                http, "query", query="count by (topic, partition) (paystream_consumer_lag_messages)"
            )
        )["result"]
        return len(result) == partitions and {r["value"][1] for r in result} == {"1"}

    await wait_for(each_partition_once, "each partition's lag reported by one worker", 120, 1.0)

    payments_lag = f'sum(paystream_consumer_lag_messages{{topic="{pipeline.topic("payments")}"}})'

    async def lag_is(check: Callable[[float], bool]) -> bool:
        value = await scalar(server, http, payments_lag)
        return value is not None and check(value)

    await wait_for(lambda: lag_is(lambda v: v == 0), "payments caught up", 120, 1.0)
    # Sage Pro down: its sink holds the payments, so the group's offsets cannot move on.
    await pipeline.control("sagepro", "faults", {"down_seconds": 12})
    await make_transactions(pipeline, sales=2)
    await wait_for(lambda: lag_is(lambda v: v > 0), "payments lag while Sage Pro is down", 120, 1.0)
    await wait_for(lambda: lag_is(lambda v: v == 0), "payments lag back to 0 after", 120, 1.0)
