"""Writes grafana/dashboards/*.json from the panel definitions below (dashboards as code).

    python scripts/grafana_dashboards.py          # regenerate the JSON files
    python scripts/grafana_dashboards.py --check  # exit 1 if a committed file is out of date

Every expression reads metrics defined in stream/metrics.py; a test asks a real Prometheus,
scraping a real worker, for each of them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.charge_agent import ChargeAgent
from agents.paytrace_source import PayTracePoller
from stream.topic_names import TOPICS
from stream.topology import FLOWS, flow_named

OUT = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
W = 'instance=~"$worker"'  # every selector is scoped to the chosen workers
RATE = "[$__rate_interval]"
SINK_ERRORS = 'outcome!~"ok|idempotent_success"'


@dataclass
class Panel:
    title: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    description: str = ""
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)


def rate(metric: str, matchers: str = "") -> str:
    return f"rate({metric}{{{W}{',' + matchers if matchers else ''}}}{RATE})"


def p95(metric: str, by: str, matchers: str = "") -> str:
    inner = rate(f"{metric}_bucket", matchers)
    return f"histogram_quantile(0.95, sum by (le, {by}) ({inner}))"


def variables(topics: bool = True) -> list[dict[str, Any]]:
    found = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
        },
        _query_variable("worker", "Worker", "label_values(paystream_events_in_total, instance)"),
    ]
    if topics:
        found.append(
            _query_variable(
                "topic", "Topic", "label_values(paystream_consumer_lag_messages, topic)"
            )
        )
    return found


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2,  # on time range change: workers come and go
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in panel.thresholds] or [
        {"color": "green", "value": None}
    ]
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                "range": True,
            }
            for index, (expr, legend) in enumerate(panel.targets)
        ],
        "fieldConfig": {
            "defaults": {
                "unit": panel.unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "color": {"mode": "thresholds" if panel.thresholds else "palette-classic"},
            },
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
        if panel.kind in ("stat", "gauge")
        else {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]}},
    }
    return body


def dashboard(
    uid: str, title: str, description: str, panels: list[Panel], topics: bool = True
) -> dict[str, Any]:
    laid_out, x, y, row_height = [], 0, 0, 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(_panel_json(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["paystream"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "graphTooltip": 1,
        "templating": {"list": variables(topics)},
        "annotations": {"list": []},
        "links": [
            {"type": "dashboards", "tags": ["paystream"], "asDropdown": True, "title": "paystream"}
        ],
        "panels": laid_out,
    }


def connector_panels(system: str) -> list[Panel]:
    """What every external system gets: calls, outcomes, latency, retries, throttling."""
    on = f'system="{system}"'
    return [
        Panel(
            "Calls by endpoint and outcome",
            [
                (
                    f"sum by (endpoint, outcome) ({rate('paystream_external_calls_total', on)})",
                    "{{endpoint}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Call latency p95 by endpoint",
            [(p95("paystream_external_call_seconds", "endpoint", on), "{{endpoint}}")],
            "s",
        ),
        Panel(
            "Error ratio (calls not ok)",
            [
                (
                    # or vector(0): 0 % rather than "no data" while no call has failed yet
                    f"(sum({rate('paystream_external_calls_total', f'{on},{SINK_ERRORS}')}) "
                    f"or vector(0)) / sum({rate('paystream_external_calls_total', on)})",
                    "errors",
                )
            ],
            "percentunit",
            width=8,
        ),
        Panel(
            "Retries by endpoint",
            [
                (
                    f"sum by (endpoint) ({rate('paystream_external_retries_total', on)})",
                    "{{endpoint}}",
                )
            ],
            "ops",
            width=8,
        ),
        Panel(
            "Throttled calls (rate or quota limits)",
            [(f"sum({rate('paystream_external_throttled_total', on)})", "throttled")],
            "ops",
            width=8,
        ),
        Panel(
            "Metered API calls by flow",
            [
                (
                    f"sum by (flow) ({rate('paystream_flow_api_calls_total', on)})",
                    "{{flow}}",
                )
            ],
            "reqps",
        ),
    ]


def agent_panels(agent: str, topic_suffix: str) -> list[Panel]:
    on = f'agent="{agent}"'
    return [
        Panel(
            f"{agent}: events in / out / failed",
            [
                (f"sum({rate('paystream_events_in_total', on)})", "in"),
                (f"sum({rate('paystream_events_out_total', on)})", "out"),
                (f"sum({rate('paystream_events_failed_total', on)})", "failed"),
            ],
            "ops",
        ),
        Panel(
            f"Consumer lag of {topic_suffix} ($topic)",
            [
                (
                    "sum by (topic, partition) (paystream_consumer_lag_messages"
                    f'{{{W},topic=~"$topic",topic=~".*{topic_suffix}"}})',
                    "{{topic}}[{{partition}}]",
                )
            ],
            "short",
        ),
    ]


def sink_panels(agent: str) -> list[Panel]:
    on, sink = f'agent="{agent}"', f'sink="{agent}"'
    return [
        Panel(
            "Sink processing latency p95 (per batch)",
            [(p95("paystream_processing_seconds", "agent", on), "{{agent}}")],
            "s",
        ),
        Panel(
            "Sink batch size (median)",
            [
                (
                    "histogram_quantile(0.5, sum by (le) "
                    f"({rate('paystream_sink_batch_size_bucket', sink)}))",
                    "records per batch",
                )
            ],
            "short",
        ),
    ]


def flow_panels(dashboard_name: str) -> list[Panel]:
    """Panels of every stream and sink flow the topology puts on this dashboard, in its order:
    a new flow's panels appear without editing this script."""
    panels: list[Panel] = []
    for flow in FLOWS:
        if flow.dashboard != dashboard_name or flow.kind == "source":
            continue
        panels.extend(agent_panels(flow.name, TOPICS[flow.reads[0]]))
        if flow.replay_sink:  # the payment sinks: batches of up to 200
            panels.extend(sink_panels(flow.name))
    return panels


def settlement_panels() -> list[Panel]:
    """PayTrace settlement reconciliation: one batch a day, so counts over the time range."""
    return [
        Panel(
            "Settlement batches by outcome (time range)",
            [
                (
                    "sum by (outcome) "
                    f"(increase(paystream_settlement_batches_total{{{W}}}[$__range]))",
                    "{{outcome}}",
                )
            ],
            "short",
            "stat",
            width=12,
            height=5,
            description="Settled PayTrace batches reconciled against Salesforce and Sage Pro: "
            "reconciled, mismatch (some transactions missing or different; journal entry "
            "posted) or dead_letter (totals do not add up; no journal entry).",
        ),
        Panel(
            "Settled transactions not matched, by kind (time range)",
            [
                (
                    "sum by (kind) (increase("
                    f"paystream_settlement_mismatched_transactions_total{{{W}}}[$__range]))",
                    "{{kind}}",
                )
            ],
            "short",
            "stat",
            width=12,
            height=5,
            thresholds=[(None, "green"), (1, "red")],
            description="Transactions of a settled batch missing in Salesforce (Payment__c) "
            "or Sage Pro (payment), or with another amount there; see Settlement__c.",
        ),
    ]


def overview() -> dict[str, Any]:
    payment_sinks = "|".join(flow.name for flow in FLOWS if flow.replay_sink)
    sinks = f'agent=~"{payment_sinks}"'
    dead = f'{W},topic=~"$topic"'
    budget = (
        f"1 - max(paystream_salesforce_api_requests_used{{{W}}}) / "
        f"max(paystream_salesforce_api_requests_limit{{{W}}})"
    )
    panels = [
        Panel(
            "Payments delivered /s",
            [(f"sum({rate('paystream_events_out_total', sinks)})", "delivered")],
            "ops",
            "stat",
            width=4,
            height=5,
            description="Payments written to Salesforce and Sage Pro by the sinks.",
        ),
        Panel(
            "Workers up",
            [(f'sum(up{{job="paystream",{W}}})', "workers")],
            "short",
            "stat",
            width=4,
            height=5,
            thresholds=[(None, "red"), (1, "green")],
        ),
        Panel(
            "Dead letters (time range)",
            [(f"sum(increase(paystream_dead_letters_total{{{dead}}}[$__range]))", "dead")],
            "short",
            "stat",
            width=4,
            height=5,
            thresholds=[(None, "green"), (1, "red")],
        ),
        Panel(
            "Salesforce API budget left",
            [(budget, "left")],
            "percentunit",
            "gauge",
            width=4,
            height=5,
            description="From Sforce-Limit-Info: 1 - used / limit of the org's daily requests.",
            thresholds=[(None, "red"), (0.1, "orange"), (0.25, "green")],
        ),
        Panel(
            "Consumer lag (messages)",
            [(f'sum(paystream_consumer_lag_messages{{{W},topic=~"$topic"}})', "lag")],
            "short",
            "stat",
            width=4,
            height=5,
        ),
        Panel(
            "PayTrace watermark lag",
            [(f"max(paystream_paytrace_watermark_lag_seconds{{{W}}})", "lag")],
            "s",
            "stat",
            width=4,
            height=5,
            thresholds=[(None, "green"), (300, "orange"), (900, "red")],
        ),
        Panel(
            "Money flowing: events per second by agent",
            [
                (f"sum by (agent) ({rate('paystream_events_in_total')})", "{{agent}} in"),
                (f"sum by (agent) ({rate('paystream_events_out_total')})", "{{agent}} out"),
            ],
            "ops",
        ),
        Panel(
            "Processing latency p95 by agent",
            [(p95("paystream_processing_seconds", "agent"), "{{agent}}")],
            "s",
        ),
        Panel(
            "Errors: failed events per second by agent",
            [(f"sum by (agent) ({rate('paystream_events_failed_total')})", "{{agent}}")],
            "ops",
        ),
        Panel(
            "External calls not ok, by system and outcome",
            [
                (
                    "sum by (system, outcome) "
                    f"({rate('paystream_external_calls_total', SINK_ERRORS)})",
                    "{{system}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        Panel(
            "Ignored by design, by agent and reason / records tried again",
            [
                (
                    f"sum by (agent, reason) ({rate('paystream_events_ignored_total')})",
                    "{{agent}} ignored: {{reason}}",
                ),
                (
                    f"sum by (agent) ({rate('paystream_record_retries_total')})",
                    "{{agent}} retried",
                ),
            ],
            "ops",
            description="Records a flow left alone on purpose (own write-back, a state already "
            "seen, a replay for the other sink), and records held for another attempt.",
        ),
        Panel(
            "Dead letters by topic and reason",
            [
                (
                    "sum by (topic, reason) "
                    f"(increase(paystream_dead_letters_total{{{dead}}}{RATE}))",
                    "{{reason}} ({{topic}})",
                )
            ],
            "short",
        ),
        Panel(
            "Consumer lag by topic and partition / stalled partitions read again",
            [
                (
                    "sum by (topic, partition) "
                    f'(paystream_consumer_lag_messages{{{W},topic=~"$topic"}})',
                    "{{topic}}[{{partition}}]",
                ),
                (
                    "sum by (topic) (increase(paystream_partition_stalls_recovered_total"
                    f'{{{W},topic=~"$topic"}}{RATE}))',
                    "{{topic}} stalls read again",
                ),
            ],
            "short",
            description="A stall is a partition stuck below its end with nothing in progress; "
            "the stall watchdog reads it again (stream/stall_watchdog.py).",
        ),
        Panel(
            "Salesforce API requests used / limit",
            [
                (f"max(paystream_salesforce_api_requests_used{{{W}}})", "used"),
                (f"max(paystream_salesforce_api_requests_limit{{{W}}})", "limit"),
            ],
            "short",
            width=8,
        ),
        Panel(
            "Charges by outcome / ledger keys pending",
            [
                (
                    f"sum by (outcome) (increase(paystream_charges_total{{{W}}}{RATE}))",
                    "{{outcome}}",
                ),
                (f"max(paystream_ledger_pending_keys{{{W}}})", "ledger keys pending"),
            ],
            "short",
            width=8,
        ),
        Panel(
            "Throttled calls by system",
            [
                (
                    f"sum by (system) ({rate('paystream_external_throttled_total')})",
                    "{{system}}",
                )
            ],
            "ops",
            width=8,
        ),
        *settlement_panels(),
        Panel(
            "Disputes by stage / responses due soon",
            [
                (
                    f"sum by (stage) (increase(paystream_disputes_total{{{W}}}{RATE}))",
                    "{{stage}}",
                ),
                (f"sum(paystream_disputes_due_soon{{{W}}})", "responses due soon"),
            ],
            "short",
            width=24,
            description="Dispute notifications applied per stage (agents/dispute_salesforce.py), "
            "and open disputes whose response is due within PAYSTREAM_DISPUTE_DUE_SOON_DAYS.",
        ),
    ]
    return dashboard(
        "paystream-overview",
        "paystream / Overview",
        "Is money flowing, where is it stuck, how much Salesforce API budget is left.",
        panels,
    )


def paytrace() -> dict[str, Any]:
    poller = f'agent="{flow_named(PayTracePoller)}"'
    charge = f'agent="{flow_named(ChargeAgent)}"'
    panels = [
        Panel(
            "Poll watermark lag",
            [(f"max(paystream_paytrace_watermark_lag_seconds{{{W}}})", "lag")],
            "s",
            thresholds=[(None, "green"), (300, "orange"), (900, "red")],
            description="How far the export watermark trails now; grows while polling fails.",
        ),
        Panel(
            "Transactions fetched / published by the poller",
            [
                (
                    f"sum({rate('paystream_events_in_total', poller)})",
                    "fetched",
                ),
                (
                    f"sum({rate('paystream_events_out_total', poller)})",
                    "published",
                ),
                (
                    f"sum({rate('paystream_events_failed_total', poller)})",
                    "failed polls",
                ),
            ],
            "ops",
        ),
        *connector_panels("paytrace"),
        *flow_panels("paytrace"),
        Panel(
            "Charges by outcome",
            [
                (
                    f"sum by (outcome) (increase(paystream_charges_total{{{W}}}{RATE}))",
                    "{{outcome}}",
                ),
                (
                    f"sum by (reason) (increase(paystream_charges_refused_total{{{W}}}{RATE}))",
                    "refused: {{reason}}",
                ),
            ],
            "short",
            width=8,
            description="Charge commands sent to PayTrace and what became of them; refused: "
            "commands Salesforce's current state did not confirm (no sale was made).",
        ),
        Panel(
            "Charge ledger keys pending / oldest pending (s)",
            [
                (f"max(paystream_ledger_pending_keys{{{W}}})", "pending"),
                (f"max(paystream_ledger_oldest_pending_seconds{{{W}}})", "oldest pending (s)"),
            ],
            "short",
            width=8,
            description="Charges whose outcome is not known yet; they must not stay long "
            "(the alert fires at 15 minutes).",
        ),
        Panel(
            f"{flow_named(ChargeAgent)}: commands in / charged out / failed",
            [
                (f"sum({rate('paystream_events_in_total', charge)})", "in"),
                (f"sum({rate('paystream_events_out_total', charge)})", "out"),
                (f"sum({rate('paystream_events_failed_total', charge)})", "failed"),
            ],
            "ops",
            width=8,
        ),
    ]
    return dashboard(
        "paystream-paytrace",
        "paystream / PayTrace",
        "The PayTrace poller, its API calls and the raw topic.",
        panels,
    )


def salesforce() -> dict[str, Any]:
    budget = (
        f"1 - max(paystream_salesforce_api_requests_used{{{W}}}) / "
        f"max(paystream_salesforce_api_requests_limit{{{W}}})"
    )
    panels = [
        Panel(
            "API budget left",
            [(budget, "left")],
            "percentunit",
            "gauge",
            width=8,
            thresholds=[(None, "red"), (0.1, "orange"), (0.25, "green")],
        ),
        Panel(
            "API requests used / limit (Sforce-Limit-Info)",
            [
                (f"max(paystream_salesforce_api_requests_used{{{W}}})", "used"),
                (f"max(paystream_salesforce_api_requests_limit{{{W}}})", "limit"),
            ],
            "short",
            width=16,
        ),
        Panel(
            "API budget: usage share and flows slowed (stream/runtime/api_budget.py)",
            [
                (f"max(paystream_salesforce_api_usage_ratio{{{W}}})", "usage share"),
                (f"max by (flow) (paystream_api_budget_throttled{{{W}}})", "{{flow}} slowed"),
            ],
            "short",
            width=24,
            description="Above PAYSTREAM_SALESFORCE_API_BUDGET_SHARE of the daily limit, "
            "pause flows wait and the payment sink fills calls of 200 (1 = slowed).",
        ),
        *flow_panels("salesforce"),
        *connector_panels("salesforce"),
    ]
    return dashboard(
        "paystream-salesforce",
        "paystream / Salesforce",
        "The Payment__c sink, its API calls, the org's API budget and charges it triggers.",
        panels,
    )


def sagepro() -> dict[str, Any]:
    panels = [
        *flow_panels("sagepro"),
        *connector_panels("sagepro"),
    ]
    return dashboard(
        "paystream-sagepro",
        "paystream / Sage Pro",
        "The Sage Pro payments and journal entries sink and its API calls.",
        panels,
    )


def risk() -> dict[str, Any]:
    """Streaming risk scoring (agents/risk_scorer.py, agents/risk_actions.py)."""
    panels = [
        Panel(
            "Risk score p50 / p95",
            [
                (
                    f"histogram_quantile(0.5, sum by (le) ({rate('paystream_risk_score_bucket')}))",
                    "p50",
                ),
                (
                    "histogram_quantile(0.95, sum by (le) "
                    f"({rate('paystream_risk_score_bucket')}))",
                    "p95",
                ),
            ],
            "percentunit",
            width=8,
            description="Scores of payments as they are scored; 0 = nothing unusual.",
        ),
        Panel(
            "Payments scored / at or above the review threshold",
            [
                (f"sum({rate('paystream_risk_score_count')})", "scored"),
                (f"sum({rate('paystream_risk_high_total')})", "high risk (review Case)"),
            ],
            "ops",
            width=8,
        ),
        Panel(
            "High-risk share of scored payments",
            [
                (
                    f"sum({rate('paystream_risk_high_total')}) / "
                    f"clamp_min(sum({rate('paystream_risk_score_count')}), 1e-9)",
                    "high-risk share",
                )
            ],
            "percentunit",
            width=8,
            thresholds=[(None, "green"), (0.02, "orange"), (0.05, "red")],
            description="A sudden rise is card testing or a burst of fraud (alert "
            "PaystreamRiskHighShare); the Cases name each payment's reasons.",
        ),
        *flow_panels("risk"),
    ]
    return dashboard(
        "paystream-risk",
        "paystream / Risk",
        "Streaming risk scores of payments, high-risk payments and the scoring flows.",
        panels,
    )


def billing() -> dict[str, Any]:
    """Recurring billing (agents/subscription_scheduler.py, the charge ledger's period keys)."""
    periods = "paystream_subscription_periods_total"
    recovered = f'sum(increase({periods}{{{W},outcome="recovered"}}[7d]))'
    failed = f'sum(increase({periods}{{{W},outcome="dunning"}}[7d]))'
    panels = [
        Panel(
            "Subscription periods: due, charged, declined, recovered, suspended",
            [(f"sum by (outcome) (increase({periods}{{{W}}}{RATE}))", "{{outcome}}")],
            width=12,
        ),
        Panel(
            "Revenue at risk (subscriptions in dunning)",
            [(f"sum(paystream_subscription_revenue_at_risk{{{W}}})", "at risk")],
            "currencyUSD",
            width=6,
        ),
        Panel(
            "Recovery rate (periods recovered / entering dunning, 7 days, as the alert)",
            [(f"({recovered} + 1) / ({failed} + 1)", "recovered share")],
            "percentunit",
            "gauge",
            width=6,
            thresholds=[(None, "red"), (0.3, "orange"), (0.5, "green")],
        ),
        *flow_panels("billing"),
    ]
    return dashboard(
        "paystream-billing",
        "paystream / Recurring billing",
        "Subscription periods charged, dunning outcomes and revenue at risk.",
        panels,
    )


DASHBOARDS = {
    "overview.json": overview,
    "paytrace.json": paytrace,
    "salesforce.json": salesforce,
    "sagepro.json": sagepro,
    "risk.json": risk,
    "billing.json": billing,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        OUT.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/grafana_dashboards.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
