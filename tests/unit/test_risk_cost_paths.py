"""What keeps scoring cheap per payment in the worker (bench/README.md, worker_risk_cost):
the keyer's record, and the idle-customer sweep's key index."""

from __future__ import annotations

import pytest

from schemas.risk import RiskEvent
from stream import risk_engine
from stream.risk_features import event_fields
from tests.unit.test_risk_model_and_flows import (
    pay,
    risk_input,
    scorer_records,
    scorer_with_an_idle_customer,
)


async def test_a_sweep_after_a_rebalance_finds_stored_customers_and_hashes_keys_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle customers only in the table (scored before a rebalance) are still expired; the
    stored keys are hashed to their partition once per rebalance, not once per sweep."""
    scorer, table, idle, busy = await scorer_with_an_idle_customer()
    scorer.forget()  # a rebalance: memory and the index dropped, the table kept
    hashed: list[bytes] = []
    real = risk_engine.partition_of
    monkeypatch.setattr(
        risk_engine, "partition_of", lambda key, n: hashed.append(key) or real(key, n)
    )
    for hour in range(2, 28, 2):
        await scorer.handle(scorer_records([pay(hour * 3_600, customer_vault_id=busy)]))
    assert f"v:{idle}".encode() not in table
    assert f"v:{busy}".encode() in table
    assert hashed.count(f"v:{idle}".encode()) == 1


def test_keyer_leaves_out_avs_and_csc_answers_that_say_nothing() -> None:
    plain = event_fields(risk_input(pay()))
    assert "avs" not in plain and "csc" not in plain
    odd = event_fields(risk_input(pay(avs_response="Zip Only", csc_response="No Match")))
    assert (odd["avs"], odd["csc"]) == ("Zip Only", "No Match")
    assert RiskEvent.model_validate(plain).csc is None
