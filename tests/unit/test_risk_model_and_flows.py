"""Streaming risk scoring: signals in the canonical payment, each feature, the score's reasons,
the detector's restore, and the three flows with fake clients (no broker)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.risk_scorer import model_key
from connectors.salesforce.models import RecordError, RecordResult
from schemas.payment import Payment, PaymentStatus, PaymentType
from schemas.risk import RiskScore
from stream.mapping import load_mapping
from stream.risk_features import CustomerState, Thresholds, customer_key, mismatch, observe
from stream.risk_model import WINDOW, Detector, detector_input, score
from stream.runtime import sink as sink_module
from stream.transform import to_payment
from tests.unit import flow_fakes
from tests.unit.test_transform import export_record, raw_of

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
_ids = iter(range(7_000_000, 8_000_000))


@pytest.fixture(autouse=True)
def fast_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "FIRST_PAUSE_SECONDS", 0.001)


def pay(seconds: float = 0, amount: str = "50.00", **changes: Any) -> Payment:
    fields: dict[str, Any] = {
        "transaction_id": str(next(_ids)),
        "type": PaymentType.SALE,
        "status": PaymentStatus.APPROVED,
        "amount": Decimal(amount),
        "currency": "USD",
        "occurred_at": T0 + timedelta(seconds=seconds),
        "card_type": "VISA",
        "last_four": "1111",
        "customer_vault_id": "cust-1",
        "avs_response": "Full Exact Match",
        "csc_response": "Match",
        "local_hour": 11,
    }
    fields.update(changes)
    return Payment(**fields)


def test_transform_carries_the_signals_and_never_a_card_number() -> None:
    payment = to_payment(
        raw_of(export_record(avs_response="No Match", csc_response="Match")), load_mapping()
    )
    assert payment.avs_response == "No Match" and payment.csc_response == "Match"
    assert payment.approval_message == "APPROVAL TAS212 - Approved and completed"
    assert payment.local_hour == 9  # 9:15 AM in the merchant's zone
    assert payment.billing_key and len(payment.billing_key) == 16
    assert "Kevin" not in payment.model_dump_json()
    old = payment.model_dump(exclude={"avs_response", "csc_response", "local_hour"})
    assert Payment.model_validate(old).avs_response is None  # records written before parse


def test_customer_key_falls_back_from_vault_to_billing_to_card() -> None:
    assert customer_key(pay()) == "v:cust-1"
    assert customer_key(pay(customer_vault_id=None, billing_key="ab" * 8)) == "b:" + "ab" * 8
    assert customer_key(pay(customer_vault_id=None)) == "c:VISA:1111"
    anonymous = pay(customer_vault_id=None, last_four=None)
    assert customer_key(anonymous) == f"t:{anonymous.transaction_id}"


def test_velocity_windows_count_and_sum() -> None:
    state = CustomerState()
    for second in (0, 10, 20, 120, 3700):
        features = observe(state, pay(second, "10.00"))
    assert features["count_1m"] == 1 and features["count_1h"] == 2
    assert features["count_24h"] == 5 and features["amount_24h"] == 50.0
    features = observe(state, pay(3710, "5.00"))
    assert features["count_1m"] == 2 and features["amount_1m"] == 15.0


def test_decline_streak_and_card_testing() -> None:
    state = CustomerState()
    for n in range(5):
        features = observe(state, pay(n * 20, "1.00", status=PaymentStatus.DECLINED))
    assert features["decline_streak"] == 5 and features["small_10m"] == 5
    assert features["declines_1h"] == 5
    assert observe(state, pay(200, "1.00"))["decline_streak"] == 0
    result = score(features)
    assert result.score >= 0.9
    assert result.reasons[0].startswith("card testing: 5 small declines")


def test_amount_against_the_customers_own_history() -> None:
    state = CustomerState()
    for day in range(6):
        observe(state, pay(day * 86_400, "40.00"))
    usual = observe(state, pay(7 * 86_400, "44.00"))
    assert usual["amount_ratio"] == pytest.approx(1.1, abs=0.01)
    outlier = observe(state, pay(8 * 86_400, "900.00"))
    assert outlier["amount_ratio"] > 20 and outlier["amount_z"] > 10
    assert "this customer's usual" in score(outlier).reasons[0]


def test_refund_ratio_avs_csc_and_first_seen_high_amount() -> None:
    state = CustomerState()
    first = observe(state, pay(0, "2500.00", avs_response="No Match", csc_response="No Match"))
    assert first["first_seen"] == 1 and first["new_high_amount"] == 1
    assert first["avs_mismatch"] == 1 and first["csc_mismatch"] == 1
    refund = observe(state, pay(60, "2500.00", type=PaymentType.REFUND, status="refunded"))
    assert refund["refund_ratio"] == 1.0 and refund["first_seen"] == 0
    assert mismatch("Zip Match Only") == 0.5 and mismatch("Full Exact Match") == 0.0
    reasons = score(first).reasons
    assert "first payment of a new customer, for 2500.00" in reasons


def test_state_is_compact_and_survives_a_round_trip() -> None:
    state = CustomerState()
    for n in range(200):
        observe(state, pay(n * 30, "12.50"))
    text = state.dumps()
    assert len(text) < 5_000  # bounded: at most MAX_EVENTS attempts
    again = CustomerState.loads(text)
    assert again.dumps() == text
    assert observe(again, pay(7000)) == observe(CustomerState.loads(text), pay(7000))
    assert CustomerState.loads("not json").count == 0


def test_a_normal_payment_scores_low_with_no_reasons() -> None:
    state = CustomerState()
    for day in range(5):
        features = observe(state, pay(day * 86_400))
    result = score(features)
    assert result.score < 0.1 and result.reasons == ()


def test_detector_restored_from_its_snapshot_scores_the_same() -> None:
    detector = Detector()
    state = CustomerState()
    inputs = [detector_input(observe(state, pay(n * 600, f"{20 + n % 7}.00"))) for n in range(300)]
    for x in inputs[: 2 * WINDOW + 30]:
        detector.score_and_learn(x)
    restored = Detector.restore(detector.snapshot())
    odd = detector_input(observe(state, pay(10**6, "9000.00", csc_response="No Match")))
    for x in [*inputs[2 * WINDOW + 30 :], odd]:
        assert restored.score_and_learn(x) == detector.score_and_learn(x)
    assert Detector.restore("garbage").seen == 0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    amount=st.decimals(min_value=0, max_value=Decimal("999999999999.99"), places=2),
    seconds=st.floats(min_value=-1e8, max_value=1e8, allow_nan=False),
    status=st.sampled_from(list(PaymentStatus)),
    kind=st.sampled_from(list(PaymentType)),
    avs=st.one_of(st.none(), st.text(max_size=40)),
    vault=st.one_of(st.none(), st.text(min_size=1, max_size=60)),
    hour=st.one_of(st.none(), st.integers(0, 23)),
)
def test_no_input_crashes_the_scorer(
    amount: Decimal,
    seconds: float,
    status: PaymentStatus,
    kind: PaymentType,
    avs: str | None,
    vault: str | None,
    hour: int | None,
) -> None:
    state = CustomerState()
    detector = Detector()
    for repeat in range(2):
        payment = pay(
            seconds + repeat,
            str(amount),
            status=status,
            type=kind,
            avs_response=avs,
            csc_response=avs,
            customer_vault_id=vault,
            last_four=None,
            card_type=None,
            local_hour=hour,
        )
        features = observe(state, payment, Thresholds())
        result = score(features, detector.score_and_learn(detector_input(features)))
        assert 0.0 <= result.score <= 1.0
        state = CustomerState.loads(state.dumps())
        customer_key(payment).encode()


def scorer_records(payments: list[Payment], partition: int = 0) -> list[Any]:
    return [
        flow_fakes.incoming(p, key=customer_key(p), topic="by-customer", offset=n)
        for n, p in enumerate(payments)
    ]


def card_testing_burst() -> list[Payment]:
    return [
        pay(n * 15, "1.00", customer_vault_id=None, status=PaymentStatus.DECLINED) for n in range(8)
    ]


async def test_keyer_rekeys_scorable_payments_by_customer() -> None:
    ctx = flow_fakes.context()
    keyer = flow_fakes.flow("risk_keyer", ctx)
    sale, settled = pay(), pay(status=PaymentStatus.SETTLED)
    await keyer.handle(
        [
            flow_fakes.incoming(p, key=p.transaction_id, offset=n)
            for n, p in enumerate((sale, settled))
        ]
    )
    out = flow_fakes.sent(ctx, "payments_by_customer")
    assert [s.key for s in out] == [b"v:cust-1"]
    assert Payment.model_validate_json(out[0].value) == sale


async def test_scorer_flags_card_testing_keeps_state_and_restarts_to_the_same_score() -> None:
    ctx = flow_fakes.context()
    scorer = flow_fakes.flow("payment_risk_scorer", ctx)
    burst = card_testing_burst()
    await scorer.handle(scorer_records(burst[:6]))
    scores = [RiskScore.model_validate_json(s.value) for s in flow_fakes.sent(ctx, "payments_risk")]
    assert [s.transaction_id for s in scores] == [p.transaction_id for p in burst[:6]]
    assert scores[-1].score >= 0.9 and "card testing" in scores[-1].reasons[0]
    table: flow_fakes.FakeTable = ctx.app.tables["risk-state"]  # type: ignore[assignment]
    assert b"c:VISA:1111" in table and model_key(0, ctx.kafka.partitions) in table
    # A replay of a counted attempt is not counted again.
    await scorer.handle(scorer_records(burst[:1]))
    assert len(flow_fakes.sent(ctx, "payments_risk")) == 6

    # Restart: a new worker whose table is what the changelog restored gives the same scores.
    restarted = flow_fakes.context()
    restarted.app.tables["risk-state"] = flow_fakes.FakeTable(table)  # type: ignore[assignment]
    again = flow_fakes.flow("payment_risk_scorer", restarted)
    await scorer.handle(scorer_records(burst[6:]))
    await again.handle(scorer_records(burst[6:]))
    first = [s.value for s in flow_fakes.sent(ctx, "payments_risk")[6:]]
    assert [s.value for s in flow_fakes.sent(restarted, "payments_risk")] == first


async def test_scorer_dead_letters_what_it_cannot_read() -> None:
    ctx = flow_fakes.context()
    scorer = flow_fakes.flow("payment_risk_scorer", ctx)
    bad = pay().model_dump(mode="json") | {"amount": "NaN"}
    await scorer.handle([flow_fakes.incoming(orjson.dumps(bad), key="v:x")])
    assert len(flow_fakes.dead_letters(ctx)) == 1
    assert flow_fakes.sent(ctx, "payments_risk") == []


class FakeSalesforce:
    """Salesforce as the action sink uses it: SOQL ``IN`` look-ups, collection upserts by
    external id, Case creates; every call counted."""

    def __init__(self, payments: set[str]) -> None:
        self.payments = payments
        self.upserts: list[list[dict[str, Any]]] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.deleted: set[str] = set()  # in the recycle bin: upserts answer ENTITY_IS_DELETED

    async def query(self, soql: str) -> list[dict[str, Any]]:
        self.calls += 1
        wanted = re.findall(r"'([^']*)'", soql.rsplit(" IN ", 1)[1])
        if "FROM Case" in soql:
            return [{"Risk_Case_Key__c": k} for k in self.cases if k in wanted]
        return [
            {"Id": "a0X" + tx, "Account__c": "001A", "PaymentID__c": tx}
            for tx in wanted
            if tx in self.payments
        ]

    async def upsert_collection(
        self, obj: str, field: str, records: list[dict[str, Any]], *, all_or_none: bool
    ) -> list[RecordResult]:
        self.calls += 1
        self.upserts.append(records)
        gone = [RecordError(statusCode="ENTITY_IS_DELETED", message="entity is deleted")]
        return [
            RecordResult(success=False, errors=gone)
            if r[field] in self.deleted
            else RecordResult(id="a0X" + r[field], success=True)
            for r in records
        ]

    async def create(self, obj: str, fields: dict[str, Any]) -> str:
        self.calls += 1
        key = fields["Risk_Case_Key__c"]
        self.cases[key] = fields | {"Id": f"500{len(self.cases)}"}
        return str(self.cases[key]["Id"])


def risk(transaction_id: str, value: float) -> RiskScore:
    return RiskScore(
        transaction_id=transaction_id,
        customer_key="c:VISA:1111",
        score=value,
        reasons=["card testing: 6 small declines or authorizations in 10 minutes"],
        occurred_at=T0,
        amount="1.00",
        currency="USD",
    )


async def test_action_sink_writes_fields_and_one_case_above_the_threshold() -> None:
    salesforce = FakeSalesforce({"1", "2"})
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    sink = flow_fakes.flow("risk_action_sink", ctx)
    records = [risk("1", 0.95), risk("2", 0.1), risk("1", 0.95)]  # the last: a replay
    await sink.handle(
        [flow_fakes.incoming(r, key=r.transaction_id, offset=n) for n, r in enumerate(records)]
    )
    [written] = salesforce.upserts  # one collection call for the batch, the last score per key
    assert sorted((r["PaymentID__c"], r["Risk_Score__c"]) for r in written) == [
        ("1", "0.9500"),
        ("2", "0.1000"),
    ]
    assert salesforce.calls == 4  # payments IN, upsert, Case IN, one Case create
    assert list(salesforce.cases) == ["RISK-1"]
    case = salesforce.cases["RISK-1"]
    assert case["Payment__c"] == "a0X1" and case["AccountId"] == "001A"
    assert case["Reason"].startswith("card testing")
    assert flow_fakes.dead_letters(ctx) == []


async def test_action_sink_leaves_a_deleted_payment_alone() -> None:
    salesforce = FakeSalesforce({"1"})
    salesforce.deleted.add("1")
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    sink = flow_fakes.flow("risk_action_sink", ctx)
    await sink.handle([flow_fakes.incoming(risk("1", 0.95), key="1")])
    assert flow_fakes.dead_letters(ctx) == [] and salesforce.cases == {}
