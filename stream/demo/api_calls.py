"""The Salesforce API calls each flow of the topology made, read from the workers' /metrics
(``paystream_flow_api_calls_total``): the demo's ``salesforce_api_calls_by_flow``."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from stream.running_flow import OUTSIDE_FLOWS
from stream.topology import FLOWS

FAMILY = "paystream_flow_api_calls"  # the parser drops a counter's ``_total``


def calls_by_flow(pages: Iterable[str], system: str = "salesforce") -> dict[str, int]:
    """Every flow of the topology (0 when it made none) and ``worker``, summed over the
    workers' metrics pages."""
    totals = dict.fromkeys([spec.name for spec in FLOWS] + [OUTSIDE_FLOWS], 0)
    for page in pages:
        for family in text_string_to_metric_families(page):
            if family.name != FAMILY:
                continue
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("system") == system:
                    flow = sample.labels.get("flow", OUTSIDE_FLOWS)
                    totals[flow] = totals.get(flow, 0) + int(sample.value)
    return totals


async def scrape(urls: Iterable[str]) -> list[str]:
    async with httpx.AsyncClient(timeout=10.0) as http:
        return [(await http.get(url)).text for url in urls]
