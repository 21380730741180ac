"""The demo's injected risk pattern and what the risk flows made of the run.

A card tester tries one card a few times within seconds for a few dollars (every attempt
declined: cents 02, connectors/paytrace/emulator/rules.py), as the issue's proof asks. The
report is read back from the Salesforce emulator: ``Payment__c`` risk fields and the review
Cases keyed ``RISK-<transaction id>``, never the pipeline's counters.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from connectors.paytrace.client import PayTraceClient
from stream.demo.seed import TEST_CARDS
from stream.mapping import Mapping

ATTEMPTS = 8
TESTER = {"name": "Demo Card Tester", "zip": "10001"}
WAIT_SECONDS = 60.0  # at most; scores trail the payments by the action sink's batch window
STABLE_SECONDS = 8.0  # no new score for this long (over the sink's 5 s window): all are in


async def inject_card_testing(client: PayTraceClient, invoice_id: str | None) -> list[str]:
    """``ATTEMPTS`` small declines of one card, one after the other; their transaction ids.
    ``invoice_id``: an invoice Sage Pro has, so the failed payments post as the demo's other
    declines do."""
    made = []
    extra = {"invoice_id": invoice_id} if invoice_id else {}
    for index in range(ATTEMPTS):
        result = await client.sale_keyed(
            Decimal(f"{1 + index % 3}.02"), TEST_CARDS[0], 12, 2030, billing_address=TESTER, **extra
        )
        made.append(str(result.transaction_id))
    return made


@dataclass(frozen=True)
class RiskReport:
    scored: int
    flagged: int
    injected: int
    injected_flagged: int
    cases: int

    def summary(self) -> dict[str, int]:
        return {
            "risk_scored_payments": self.scored,
            "risk_flagged_payments": self.flagged,
            "risk_injected_card_testing": self.injected,
            "risk_injected_flagged": self.injected_flagged,
            "risk_review_cases": self.cases,
        }


async def risk_report(http: httpx.AsyncClient, mapping: Mapping, injected: list[str]) -> RiskReport:
    """Once the injected attempts are scored and no score has come for ``STABLE_SECONDS``
    (or the wait is over), what was flagged."""
    risk = mapping.risk
    deadline = time.monotonic() + WAIT_SECONDS
    last: dict[str, float] = {}
    since = time.monotonic()
    while True:
        records: list[dict[str, Any]] = (await http.get("/_emulator/records/Payment__c")).json()[
            "records"
        ]
        scores = {
            str(r.get("PaymentID__c")): float(r[risk.score_field])
            for r in records
            if r.get(risk.score_field) not in (None, "")
        }
        now = time.monotonic()
        if scores != last:
            last, since = scores, now
        elif set(injected) <= set(scores) and now - since >= STABLE_SECONDS:
            break
        if now > deadline:
            break
        await asyncio.sleep(1.0)
    cases = (await http.get("/_emulator/records/Case")).json()["records"]
    flagged = {tx for tx, value in scores.items() if value >= risk.review_threshold}
    return RiskReport(
        scored=len(scores),
        flagged=len(flagged),
        injected=len(injected),
        injected_flagged=len(flagged & set(injected)),
        cases=sum(1 for c in cases if c.get(risk.case_id_field)),
    )
