"""The studio without a browser: the diagram from the registry, YAML text edits, the live
figures' parser, previews by the flows' own functions, and the JSON API's guards."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import example, given
from hypothesis import strategies as st

from stream.mapping import DEFAULT_MAPPING, Mapping, load_mapping
from stream.studio import diagram, live, preview, yaml_edit
from stream.studio.server import StudioConfig, create_app
from stream.topology import FLOWS
from stream.transform import to_payment

TEXT = DEFAULT_MAPPING.read_text()


def test_diagram_draws_every_flow_and_topic_left_to_right() -> None:
    drawn = diagram.svg(FLOWS)
    assert {f.name for f in FLOWS} == set(re.findall(r'data-flow="([^"]+)"', drawn))
    graph = diagram.build(FLOWS)
    for src, dst in graph.edges:
        assert graph.nodes[src].rank < graph.nodes[dst].rank
    assert 'id="topic:payments"' in drawn


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30))
@example("A\n")  # found by hypothesis in CI: a trailing newline went out unquoted
def test_any_status_label_round_trips_through_the_text(label: str) -> None:
    edited = yaml_edit.set_value(TEXT, ["salesforce", "status", "declined"], label)
    assert yaml.safe_load(edited)["salesforce"]["status"]["declined"] == label
    assert len(edited.splitlines()) == len(TEXT.splitlines())


def test_edits_keep_comments_and_make_a_small_diff() -> None:
    text = yaml_edit.rename_key(TEXT, ["salesforce", "fields", "Amount__c"], "Ammount__c")
    text = yaml_edit.set_value(text, ["sagepro", "gl_accounts", "refund", "debit"], "4900")
    text = yaml_edit.add_key(text, ["salesforce", "fields"], "Memo__c", "description")
    text = yaml_edit.remove_key(text, ["salesforce", "fields", "Currency__c"])
    data = yaml.safe_load(text)
    assert data["salesforce"]["fields"]["Ammount__c"] == "amount"
    assert "Currency__c" not in data["salesforce"]["fields"]
    assert data["salesforce"]["fields"]["Memo__c"] == "description"
    assert data["sagepro"]["gl_accounts"]["refund"] == {"debit": "4900", "credit": "1010"}
    assert "# reopens receivable <- merchant clearing" in text
    diff = yaml_edit.unified(TEXT, text, "m.yaml")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    assert len(changed) == 6
    with pytest.raises(yaml_edit.EditError):
        yaml_edit.set_value(TEXT, ["salesforce", "nope"], "x")


def test_live_parser_sums_flow_counters_and_lag() -> None:
    text = (
        'paystream_events_in_total{agent="payment_normalizer"} 10.0\n'
        'paystream_events_failed_total{agent="payment_normalizer"} 2.0\n'
        'paystream_consumer_lag_messages{topic="paystream.paytrace.transactions.raw",'
        'partition="0"} 3.0\n'
        'paystream_consumer_lag_messages{topic="paystream.paytrace.transactions.raw",'
        'partition="1"} 4.0\n'
    )
    flows, lag = live.parse(text)
    assert flows["payment_normalizer"] == {"in": 10.0, "dead_letters": 2.0}
    assert lag == {"paystream.paytrace.transactions.raw": 7.0}


def sample(name: str) -> dict[str, Any]:
    return next(s for s in preview.samples() if s["name"] == name)


def test_payment_preview_is_what_the_flows_compute() -> None:
    mapping = load_mapping()
    s = sample("paytrace_sale")
    result = preview.preview("paytrace", s["record"], mapping, "America/Chicago")
    assert result["ok"], result
    record = result["salesforce"]["record"]
    assert record["PaymentID__c"] == "1000123"
    assert record["Opportunity__c"] == "0065g00000AbCdEAAV"
    [posting] = result["sagepro"]["postings"]
    lines = posting["journal_entry"]["lines"]
    assert {(ln["gl_account_id"], ln.get("debit"), ln.get("credit")) for ln in lines} == {
        ("1010", "110.00", "0.00"),
        ("1200", "0.00", "110.00"),
    }
    raw = preview.RawPayTraceTransaction(
        fetched_at="2024-07-04T00:00:00Z", merchant_timezone="America/Chicago", record=s["record"]
    )
    assert result["payment"]["transaction_id"] == to_payment(raw, mapping).transaction_id


def test_previews_report_errors_where_the_worker_would() -> None:
    mapping = load_mapping()
    bad = dict(sample("paytrace_sale")["record"], transaction_type="GIFT")
    result = preview.preview("paytrace", bad, mapping)
    assert (result["ok"], result["stage"], result["reason"]) == (
        False,
        "payment_normalizer",
        "unknown_type",
    )
    own = dict(
        sample("cdc_closed_won")["record"],
        change_origin="com/salesforce/api/rest/62.0;client=paystream",
    )
    assert preview.preview("cdc", own, mapping)["reason"] == "own_write"
    won = preview.preview("cdc", sample("cdc_closed_won")["record"], mapping)
    assert won["charge_commands"][0]["command"]["key"].endswith(":closed_won")
    lost = dict(sample("dispute_chargeback")["record"], stage="lost")
    entries = preview.preview("dispute", lost, mapping)["sagepro"]["journal_entries"]
    assert [e["reference"] for e in entries] == ["DSP-CB-2024-0071-CB", "DSP-CB-2024-0071-LOST"]


@pytest.fixture
async def client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient[Any, Any]]:
    for name in (
        "PAYSTREAM_SALESFORCE_LOGIN_URL",
        "PAYSTREAM_CONFIG",
        "PAYSTREAM_ENV",
        "PAYSTREAM_KAFKA_BOOTSTRAP",
    ):
        monkeypatch.delenv(name, raising=False)
    async with TestClient(TestServer(create_app(StudioConfig()))) as running:
        yield running


async def test_api_edit_preview_check_and_guards(client: TestClient[Any, Any]) -> None:
    state = await (await client.get("/api/state")).json()
    assert state["version"] == state["original_version"]
    assert {s["kind"] for s in state["samples"]} == {"paytrace", "cdc", "dispute"}
    op = {"op": "rename", "path": ["salesforce", "fields", "Amount__c"], "value": "Ammount__c"}
    edited = await (await client.post("/api/mapping", json={"ops": [op]})).json()
    assert "+    Ammount__c: amount" in edited["diff"]
    assert edited["version"] != edited["original_version"]
    assert "Salesforce field Amount__c renamed to Ammount__c (from 'amount')" in edited["changes"]
    Mapping.model_validate(yaml.safe_load(edited["yaml"]))
    broken = {"op": "set", "path": ["salesforce", "fields", "Ammount__c"], "value": "amout"}
    invalid = await (
        await client.post("/api/mapping", json={"yaml": edited["yaml"], "ops": [broken]})
    ).json()
    assert any("unknown source 'amout'" in e for e in invalid["errors"])
    shown = await (
        await client.post(
            "/api/preview",
            json={
                "kind": "paytrace",
                "record": sample("paytrace_sale")["record"],
                "yaml": edited["yaml"],
            },
        )
    ).json()
    assert shown["salesforce"]["record"]["Ammount__c"] == 110.0
    checked = await (await client.post("/api/check", json={})).json()
    assert checked["reached"] is False  # no org settings in this test: said, not crashed
    assert (await client.post("/api/check", data="x")).status == 415
    assert (await client.get("/api/state", headers={"Host": "evil.example"})).status == 403
    records = await (await client.get("/api/records?topic=payments")).json()
    assert records == {"records": None, "why": "no PAYSTREAM_KAFKA_BOOTSTRAP"}
    page = await client.get("/")
    assert "paystream studio" in await page.text()
    assert (await client.get("/static/app.js")).status == 200


async def test_live_figures_from_a_metrics_page_with_rates_between_scrapes() -> None:
    """The studio scrapes what stream.metrics.render() serves on a worker's /metrics."""
    from aiohttp import web

    from stream import metrics
    from stream.runtime import flow_metrics
    from stream.settings import KafkaSettings

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", page)
    async with TestServer(app) as server:
        url = str(server.make_url("/metrics"))
        scraper = live.LiveMetrics([url, "http://127.0.0.1:9/metrics"], FLOWS, KafkaSettings())
        first = await scraper.scrape()
        before = first["flows"]["payment_normalizer"]["in"]
        flow_metrics.received("payment_normalizer", 7)
        second = await scraper.scrape()
    figures = second["flows"]["payment_normalizer"]
    assert figures["in"] == before + 7
    assert figures["in_per_s"] > 0
    assert "in_per_s" not in first["flows"]["payment_normalizer"]
    assert second["errors"] == ["http://127.0.0.1:9/metrics: ConnectError"]
