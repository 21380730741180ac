"""Risk scoring end to end on the real broker: PayTrace emulator -> poller -> normalizer ->
risk keyer -> scorer -> action sink -> Salesforce emulator, with a real `paystream worker`.

A card-testing burst (one card, many small declines within a minute) gets high scores, the
Payment__c risk fields and one review Case per flagged transaction (upserted by its key);
normal traffic (distinct customers, usual amounts) gets low scores and no Case. A worker
restarted mid-burst scores the burst's next attempts from the customer's restored state."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from schemas.risk import RiskScore
from stream.topics import read_all
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration

VISA = "4111111111111111"
TESTER = {"name": "Card Tester", "zip": "10001"}
BURST = 8
NORMAL = 5


async def declines(pipeline: Pipeline, count: int, first: int = 0) -> list[str]:
    """``count`` small declines of the card tester (cents 02: the emulator declines)."""
    made = []
    async with pipeline.paytrace() as paytrace:
        for index in range(first, first + count):
            result = await paytrace.sale_keyed(
                Decimal(f"{1 + index % 3}.02"), VISA, 12, 2030, billing_address=TESTER
            )
            assert result.declined
            made.append(str(result.transaction_id))
    return made


async def make_traffic(pipeline: Pipeline) -> tuple[list[str], list[str]]:
    """(card-testing transaction ids, normal ones)."""
    testing, normal = [], []
    async with pipeline.paytrace() as paytrace:
        for index in range(NORMAL):
            result = await paytrace.sale_keyed(
                Decimal("40.00") + index,
                VISA,
                12,
                2030,
                billing_address={"name": f"Customer {index}", "zip": f"8528{index}"},
            )
            assert result.approved
            normal.append(str(result.transaction_id))
    testing = await declines(pipeline, BURST)
    return testing, normal


async def records(pipeline: Pipeline, obj: str) -> list[dict[str, Any]]:
    body = await pipeline.control("salesforce", f"records/{obj}")
    found: list[dict[str, Any]] = body["records"]
    return found


async def test_card_testing_gets_high_scores_and_cases_normal_traffic_none(
    pipeline: Pipeline,
) -> None:
    testing, normal = await make_traffic(pipeline)
    worker = pipeline.start_worker()

    async def scored_in_salesforce() -> bool:
        payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
        return all(payments.get(t, {}).get("Risk_Score__c") for t in testing + normal)

    await wait_for(scored_in_salesforce, "risk scores on every Payment__c", 60)
    scores = {
        s.transaction_id: s
        for s in (
            RiskScore.model_validate_json(value)
            for _, value, _ in await read_all(
                pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments_risk"), idle_ms=300
            )
            if value
        )
    }
    threshold = 0.7
    flagged = [t for t in testing if scores[t].score >= threshold]
    # All of them: the first attempts, harmless alone, are scored again once the burst shows.
    assert len(flagged) == BURST, {t: scores[t].score for t in testing}
    assert all(scores[t].score < threshold for t in normal), {t: scores[t].score for t in normal}
    assert any("card testing" in r for t in flagged for r in scores[t].reasons)

    async def cases_made() -> bool:
        keys = {c.get("Risk_Case_Key__c") for c in await records(pipeline, "Case")}
        return {f"RISK-{t}" for t in flagged} <= keys

    await wait_for(cases_made, "a review Case per flagged transaction", 30)
    cases = [c for c in await records(pipeline, "Case") if c.get("Risk_Case_Key__c")]
    keys = [c["Risk_Case_Key__c"] for c in cases]
    assert len(keys) == len(set(keys)), "a Case was made twice"
    assert not {f"RISK-{t}" for t in normal} & set(keys)
    assert len(keys) == len(flagged)
    payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
    assert "card testing" in payments[flagged[-1]]["Risk_Reasons__c"]
    assert float(payments[normal[0]]["Risk_Score__c"]) < threshold

    # Restart: the next attempts are scored against the burst so far, read back from the
    # table's changelog by the new worker (a fresh state would see 1 and 2 small declines).
    worker.stop()
    more = await declines(pipeline, 2, first=BURST)
    pipeline.start_worker()

    async def rescored() -> bool:
        payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
        return all(payments.get(t, {}).get("Risk_Score__c") for t in more)

    await wait_for(rescored, "risk scores after the restart", 90)
    payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
    counts = []
    for tx in more:
        assert float(payments[tx]["Risk_Score__c"]) >= 0.9, payments[tx]
        found = re.search(r"card testing: (\d+) small", payments[tx]["Risk_Reasons__c"])
        assert found, payments[tx]
        counts.append(int(found.group(1)))
    # The poller may publish the two in either order: they are the 9th and 10th attempts.
    assert sorted(counts) == [BURST + 1, BURST + 2], counts
    assert not await pipeline.dead_letters()
