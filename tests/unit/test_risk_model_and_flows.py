"""Streaming risk scoring: signals in the canonical payment, each feature, the score's reasons,
the detector's restore, the engine's bursts, expiry and rebalance, and the three flows with
fake clients (no broker)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.salesforce.models import RecordError, RecordResult
from schemas.payment import Payment, PaymentStatus, PaymentType
from schemas.risk import RiskEvent, RiskInput, RiskScore
from stream.mapping import load_mapping
from stream.risk_engine import RiskEngine, model_key
from stream.risk_features import (
    DAY,
    CustomerState,
    Thresholds,
    customer_key,
    event_fields,
    event_of,
    mismatch,
)
from stream.risk_features import observe as observe_event
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


def risk_input(payment: Payment) -> RiskInput:
    return RiskInput.model_validate_json(payment.model_dump_json())


def event(payment: Payment) -> RiskEvent:
    """What the keyer forwards to the scorer for ``payment``."""
    return event_of(risk_input(payment))


def observe(state: CustomerState, payment: Payment, limits: Thresholds = Thresholds()) -> Any:
    return observe_event(state, event(payment), limits)


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
    def key(payment: Payment) -> str:
        return customer_key(risk_input(payment))

    assert key(pay()) == "v:cust-1"
    assert key(pay(customer_vault_id=None, billing_key="ab" * 8)) == "b:" + "ab" * 8
    assert key(pay(customer_vault_id=None)) == "c:VISA:1111"
    anonymous = pay(customer_vault_id=None, last_four=None)
    assert key(anonymous) == f"t:{anonymous.transaction_id}"


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


def test_a_refund_soon_after_its_sale_is_no_velocity() -> None:
    state = CustomerState()
    observe(state, pay(0, "80.00"))
    refund = observe(state, pay(30, "80.00", type=PaymentType.REFUND, status="refunded"))
    assert refund["count_1m"] == 2 and refund["refund_ratio"] == 1.0
    result = score(refund)
    assert result.score < 0.7 and not any("one minute" in r for r in result.reasons)
    again = observe(state, pay(40, "80.00"))  # a second purchase within the minute is
    assert score(again).score >= 0.7


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
    restored = Detector.restore(detector.snapshot(), detector.snapshot_previous())
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
        text = state.dumps()
        # Nothing a card scanner would read as a card number goes into the table (a run of
        # 13 digits, also after a decimal point: stream/pci.py's rule).
        stored = text + detector.snapshot() + detector.snapshot_previous()
        assert not re.search(r"\d{13,}", stored), stored
        state = CustomerState.loads(text)
        customer_key(risk_input(payment)).encode()


def scorer_records(payments: list[Payment], partition: int = 0) -> list[Any]:
    """The keyer's records for ``payments``, as the scorer reads them."""
    out = []
    for n, p in enumerate(payments):
        fields = event_fields(risk_input(p))
        key = str(fields["customer"])
        out.append(
            flow_fakes.incoming(orjson.dumps(fields), key=key, topic="by-customer", offset=n)
        )
    return out


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
    assert RiskEvent.model_validate_json(out[0].value) == event(sale)


def last_scores(ctx: Any) -> dict[str, RiskScore]:
    """The last score published per transaction (what the action sink keeps)."""
    found: dict[str, RiskScore] = {}
    for sent in flow_fakes.sent(ctx, "payments_risk"):
        risk = RiskScore.model_validate_json(sent.value)
        assert sent.key == risk.transaction_id.encode()
        found[risk.transaction_id] = risk
    return found


async def test_scorer_flags_card_testing_keeps_state_and_restarts_to_the_same_score() -> None:
    ctx = flow_fakes.context()
    scorer = flow_fakes.flow("payment_risk_scorer", ctx)
    burst = card_testing_burst()
    await scorer.handle(scorer_records(burst[:6]))
    scores = last_scores(ctx)
    assert set(scores) == {p.transaction_id for p in burst[:6]}
    last = scores[burst[5].transaction_id]
    assert last.score >= 0.9 and "card testing" in last.reasons[0]
    # The burst's first attempts looked harmless when they came; the burst took them along.
    first = scores[burst[0].transaction_id]
    assert first.score >= 0.7 and first.reasons[0].startswith("earlier attempt of a burst")
    table: flow_fakes.FakeTable = ctx.app.tables["risk-state"]  # type: ignore[assignment]
    assert b"c:VISA:1111" in table and model_key(0, ctx.kafka.partitions) in table
    # A replay of a counted attempt is not counted again.
    before = len(flow_fakes.sent(ctx, "payments_risk"))
    await scorer.handle(scorer_records(burst[:1]))
    assert len(flow_fakes.sent(ctx, "payments_risk")) == before

    # Restart: a new worker whose table is what the changelog restored gives the same scores.
    restarted = flow_fakes.context()
    restarted.app.tables["risk-state"] = flow_fakes.FakeTable(table)  # type: ignore[assignment]
    again = flow_fakes.flow("payment_risk_scorer", restarted)
    await scorer.handle(scorer_records(burst[6:]))
    await again.handle(scorer_records(burst[6:]))
    first_run = [s.value for s in flow_fakes.sent(ctx, "payments_risk")[before:]]
    assert [s.value for s in flow_fakes.sent(restarted, "payments_risk")] == first_run


def engine(table: dict[bytes, str] | None = None) -> RiskEngine:
    store = {} if table is None else table
    return RiskEngine(0.7, Thresholds(), 4, store.get)


def test_a_velocity_burst_takes_its_start_along_once() -> None:
    scoring = engine()
    history = [pay(day * 86_400 - 7 * 86_400, "40.00") for day in range(5)]
    for payment in history:
        found = scoring.score(0, event(payment))
        assert found is not None and found.flagged == 0
    burst = [pay(n * 15, "45.00") for n in range(4)]
    first = scoring.score(0, event(burst[0]))
    assert first is not None and first.flagged == 0  # one payment: nothing to see yet
    second = scoring.score(0, event(burst[1]))
    assert second is not None and second.score >= 0.7
    # The second's own record, then the first's again with the burst's score.
    assert [tx for tx, _ in second.records] == [burst[1].transaction_id, burst[0].transaction_id]
    rescored = RiskScore.model_validate_json(second.records[1][1])
    assert rescored.score == second.score and rescored.payment_status == "approved"
    third = scoring.score(0, event(burst[2]))
    assert third is not None and [tx for tx, _ in third.records] == [burst[2].transaction_id]
    # The history of days before stays unflagged: bursts look back 10 minutes only.
    assert all(tx not in {p.transaction_id for p in history} for tx, _ in third.records)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 4_000), st.sampled_from(["1.00", "20.00"]), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_incremental_windows_match_a_recount(steps: list[tuple[int, str, bool]]) -> None:
    state = CustomerState()
    seen: list[tuple[int, float, bool]] = []
    at = 0
    for gap, amount, declined in steps:
        at += gap
        status = PaymentStatus.DECLINED if declined else PaymentStatus.APPROVED
        features = observe(state, pay(at, amount, status=status))
        seen.append((at, float(amount), declined))
        recent = seen[-64:]  # at most MAX_EVENTS attempts are kept

        def count(span: int, recent: list[tuple[int, float, bool]] = recent, now: int = at) -> int:
            return sum(1 for t, _, _ in recent if t > now - span)

        assert features["count_1m"] == count(60)
        assert features["count_1h"] == count(3_600)
        assert features["count_24h"] == count(DAY)
        small = sum(1 for t, a, d in recent if t > at - 600 and a <= 5 and d)
        assert features["small_10m"] == small
        assert features["amount_1h"] == pytest.approx(
            sum(a for t, a, _ in recent if t > at - 3_600)
        )
        assert CustomerState.loads(state.dumps()).dumps() == state.dumps()


def test_nothing_stored_reads_as_a_card_number() -> None:
    """A day of labelled traffic through the engine: no value written to the table (customer
    states, detector windows, calibration) has a run of 13 digits, decimals included."""
    from bench.risk_traffic import generate

    table: dict[bytes, str] = {}
    scoring = RiskEngine(0.7, Thresholds(), 4, table.get)
    for n, labelled in enumerate(generate(customers=120, days=2, incidents=4, seed=3)):
        scoring.score(n % 4, event(labelled.payment))
        if n % 50 == 0:
            table.update(scoring.changes())
    table.update(scoring.changes())
    assert any(key.startswith(b"~risk-model:prev") for key in table)  # a window filled
    runs = [(key, run) for key, text in table.items() for run in re.findall(r"\d{13,}", text)]
    assert runs == []


def customer_in_partition(partition: int, partitions: int, tag: str) -> str:
    """A vault id whose customer key the default partitioner puts in ``partition``."""
    from stream.risk_engine import partition_of

    n = 0
    while partition_of(f"v:{tag}-{n}".encode(), partitions) != partition:
        n += 1
    return f"{tag}-{n}"


async def scorer_with_an_idle_customer() -> tuple[Any, flow_fakes.FakeTable, str, str]:
    """A scorer, its table, and two customers of partition 0: ``idle`` scored once at event
    time 0, ``busy`` not yet."""
    ctx = flow_fakes.context()
    scorer = flow_fakes.flow("payment_risk_scorer", ctx)
    table: flow_fakes.FakeTable = ctx.app.tables["risk-state"]  # type: ignore[assignment]
    idle = customer_in_partition(0, ctx.kafka.partitions, "idle")
    busy = customer_in_partition(0, ctx.kafka.partitions, "busy")
    await scorer.handle(scorer_records([pay(0, customer_vault_id=idle)]))
    return scorer, table, idle, busy


async def test_idle_customers_expire_from_memory_and_the_table() -> None:
    scorer, table, idle, busy = await scorer_with_an_idle_customer()
    assert f"v:{idle}".encode() in table
    # The busy customer pays every 2 hours for a bit over a day of event time.
    for hour in range(2, 28, 2):
        await scorer.handle(scorer_records([pay(hour * 3_600, customer_vault_id=busy)]))
    assert f"v:{idle}".encode() not in table
    assert f"v:{idle}".encode() not in scorer.engine.customers.get(0, {})
    assert f"v:{busy}".encode() in table
    # Back after the expiry, the idle customer starts a new history.
    await scorer.handle(scorer_records([pay(28 * 3_600, customer_vault_id=idle)]))
    assert CustomerState.loads(table[f"v:{idle}".encode()]).count == 1


async def test_a_partition_handed_back_is_scored_from_the_table_not_stale_memory() -> None:
    """Worker A scores a customer, the partition moves to worker B (same table, as the
    changelog restores it), then back to A: A must score as if it had seen everything."""
    payments = [pay(n * 20, "2.00", status=PaymentStatus.DECLINED) for n in range(9)]
    ctx_a = flow_fakes.context()
    a = flow_fakes.flow("payment_risk_scorer", ctx_a)
    table: flow_fakes.FakeTable = ctx_a.app.tables["risk-state"]  # type: ignore[assignment]
    ctx_b = flow_fakes.context()
    ctx_b.app.tables["risk-state"] = table  # type: ignore[assignment]
    b = flow_fakes.flow("payment_risk_scorer", ctx_b)
    await a.handle(scorer_records(payments[:3]))
    a.forget()  # revoked
    await b.handle(scorer_records(payments[3:6]))
    b.forget()
    a.forget()  # assigned again
    await a.handle(scorer_records(payments[6:]))

    alone = flow_fakes.context()
    single = flow_fakes.flow("payment_risk_scorer", alone)
    await single.handle(scorer_records(payments[:3]))
    await single.handle(scorer_records(payments[3:6]))
    await single.handle(scorer_records(payments[6:]))
    assert {**last_scores(ctx_a), **last_scores(ctx_b)} == last_scores(alone)


async def test_scorer_dead_letters_what_it_cannot_read() -> None:
    ctx = flow_fakes.context()
    scorer = flow_fakes.flow("payment_risk_scorer", ctx)
    bad = event_fields(risk_input(pay())) | {"amount": "NaN"}
    await scorer.handle([flow_fakes.incoming(orjson.dumps(bad), key="v:x")])
    assert len(flow_fakes.dead_letters(ctx)) == 1
    assert flow_fakes.sent(ctx, "payments_risk") == []


class FakeSalesforce:
    """Salesforce as the action sink uses it: SOQL ``IN`` look-ups and collection upserts by
    external id (Payment__c by PaymentID__c, Case by Risk_Case_Key__c); every call counted."""

    def __init__(self, payments: set[str]) -> None:
        self.payments = payments
        self.upserts: list[list[dict[str, Any]]] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.deleted: set[str] = set()  # in the recycle bin: upserts answer ENTITY_IS_DELETED

    async def query(self, soql: str) -> list[dict[str, Any]]:
        self.calls += 1
        assert "FROM Case" not in soql, "a Case is upserted by its key, never looked up"
        wanted = re.findall(r"'([^']*)'", soql.rsplit(" IN ", 1)[1])
        return [
            {"Id": "a0X" + tx, "Account__c": "001A", "PaymentID__c": tx}
            for tx in wanted
            if tx in self.payments
        ]

    async def upsert_collection(
        self, obj: str, field: str, records: list[dict[str, Any]], *, all_or_none: bool
    ) -> list[RecordResult]:
        self.calls += 1
        assert len(records) <= 200
        if obj == "Case":
            assert field == "Risk_Case_Key__c"
            assert all("Status" not in r for r in records), "a replay must not reopen a Case"
            for r in records:
                self.cases[r[field]] = self.cases.get(r[field], {"Status": "New"}) | r
            return [RecordResult(id="500" + r[field], success=True) for r in records]
        self.upserts.append(records)
        gone = [RecordError(statusCode="ENTITY_IS_DELETED", message="entity is deleted")]
        return [
            RecordResult(success=False, errors=gone)
            if r[field] in self.deleted
            else RecordResult(id="a0X" + r[field], success=True)
            for r in records
        ]


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
    assert salesforce.calls == 3  # payments IN, score upsert, Case upsert
    assert list(salesforce.cases) == ["RISK-1"]
    case = salesforce.cases["RISK-1"]
    assert case["Payment__c"] == "a0X1" and case["AccountId"] == "001A"
    assert case["Reason"].startswith("card testing") and case["Priority"] == "High"
    assert flow_fakes.dead_letters(ctx) == []

    # A reviewer works the Case; the same scores redelivered cost nothing and change nothing.
    salesforce.cases["RISK-1"]["Status"] = "Working"
    await sink.handle(
        [flow_fakes.incoming(r, key=r.transaction_id, offset=3 + n) for n, r in enumerate(records)]
    )
    assert salesforce.calls == 3
    # A higher score for the same transaction updates its one Case, leaving its Status alone.
    await sink.handle([flow_fakes.incoming(risk("1", 0.99), key="1", offset=9)])
    assert list(salesforce.cases) == ["RISK-1"] and salesforce.calls == 6
    assert salesforce.cases["RISK-1"]["Status"] == "Working"
    assert "0.99" in salesforce.cases["RISK-1"]["Subject"]


async def test_action_sink_costs_three_calls_per_200_scores() -> None:
    ids = {str(n) for n in range(1, 401)}
    salesforce = FakeSalesforce(ids)
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    sink = flow_fakes.flow("risk_action_sink", ctx)
    batch = [risk(str(n), 0.9 if n % 3 == 0 else 0.2) for n in range(1, 201)]
    await sink.handle([flow_fakes.incoming(r, key=r.transaction_id, offset=0) for r in batch])
    assert salesforce.calls == 3 and len(salesforce.cases) == 66
    assert flow_fakes.dead_letters(ctx) == []


async def test_action_sink_leaves_a_deleted_payment_alone() -> None:
    salesforce = FakeSalesforce({"1"})
    salesforce.deleted.add("1")
    ctx = flow_fakes.context(flow_fakes.FakeConnectors(salesforce_client=salesforce))
    sink = flow_fakes.flow("risk_action_sink", ctx)
    await sink.handle([flow_fakes.incoming(risk("1", 0.95), key="1")])
    assert flow_fakes.dead_letters(ctx) == [] and salesforce.cases == {}
