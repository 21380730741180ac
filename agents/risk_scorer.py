"""Stream flows: streaming risk scoring of payments, per customer.

The payments topic is keyed by transaction id, but the features are a customer's history.
``RiskKeyer`` therefore re-keys each scorable payment by its customer (vault id, else a
one-way key of the billing name and zip, else card type + last four) onto
``payments_by_customer``; ``PaymentRiskScorer`` reads that topic, so every payment of one
customer reaches the same partition, in order, and its state (table ``risk-state``, key = the
customer, in that same partition) is always local to the worker that scores it, after a
rebalance and a restart too. The scores go out keyed by transaction id again.

The anomaly detector is one per partition of ``payments_by_customer``; its snapshot
(stream/risk_model.py) is stored in the same table under a key that the default partitioner
puts in that partition, so it moves and recovers with the partition's customers. Tables are
written after the batch's outputs are acknowledged (``batch_done``), as the normalizer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from aiokafka.partitioner import murmur2

from schemas.payment import Payment
from schemas.risk import RiskScore
from stream import metrics
from stream.risk_features import CustomerState, Thresholds, customer_key, observe, scored
from stream.risk_model import Detector, detector_input, score
from stream.runtime.outcomes import Ignored
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming

MAX_REASON_CHARS = 200


@cache
def model_key(partition: int, partitions: int) -> bytes:
    """A table key the default partitioner (murmur2, as aiokafka's) puts in ``partition``."""
    partition %= partitions
    n = 0
    while True:
        key = f"~risk-model:{partition}:{n}".encode()
        if (murmur2(key) & 0x7FFFFFFF) % partitions == partition:
            return key
        n += 1


class RiskKeyer(StreamProcessor[Payment]):
    """payments (key: transaction id) -> payments_by_customer (key: the customer)."""

    model = Payment
    ignored_reasons = ("no_output", "not_scored")

    async def process(self, record: Incoming, value: Payment) -> Sequence[Emit]:
        if not scored(value):
            raise Ignored("not_scored")  # a later state of an attempt already scored
        return [Emit("payments_by_customer", customer_key(value).encode(), record.value)]


class PaymentRiskScorer(StreamProcessor[Payment]):
    model = Payment
    ignored_reasons = ("no_output", "not_scored", "state_seen")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = self.table("risk-state")
        risk = self.ctx.mapping.risk
        self.review = risk.review_threshold
        self.limits_ = Thresholds(risk.small_amount, risk.high_amount)
        self.detectors: dict[int, Detector] = {}
        self._changed: dict[bytes, CustomerState] = {}
        self._touched: set[int] = set()

    def detector(self, partition: int) -> Detector:
        found = self.detectors.get(partition)
        if found is None:
            key = model_key(partition, self.ctx.kafka.partitions)
            found = self.detectors[partition] = Detector.restore(self.state[key])
        return found

    def batch_started(self) -> None:
        self._changed, self._touched = {}, set()

    async def process(self, record: Incoming, value: Payment) -> Sequence[Emit]:
        if not scored(value):
            raise Ignored("not_scored")
        customer = customer_key(value)
        key = customer.encode()
        state = self._changed.get(key) or CustomerState.loads(self.state[key])
        if state.seen(value.transaction_id):
            raise Ignored("state_seen")  # a replay of an attempt already counted
        features = observe(state, value, self.limits_)
        partition = record.partition or 0
        anomaly = self.detector(partition).score_and_learn(detector_input(features))
        result = score(features, anomaly)
        if not customer.startswith("t:"):  # a payment naming nobody has no history to keep
            self._changed[key] = state
        self._touched.add(partition)
        metrics.RISK_SCORE.observe(result.score)
        if result.score >= self.review:
            metrics.RISK_HIGH.inc()
        out = RiskScore(
            transaction_id=value.transaction_id,
            customer_key=customer[:128],
            score=result.score,
            reasons=[r[:MAX_REASON_CHARS] for r in result.reasons],
            occurred_at=value.occurred_at,
            amount=f"{value.amount:.2f}",
            currency=value.currency,
            payment_type=value.type.value,
            payment_status=value.status.value,
        )
        return [
            Emit("payments_risk", value.transaction_id.encode(), out.model_dump_json().encode())
        ]

    def batch_done(self) -> None:
        for key, state in self._changed.items():
            self.state[key] = state.dumps()
        partitions = self.ctx.kafka.partitions
        for partition in self._touched:
            self.state[model_key(partition, partitions)] = self.detectors[partition].snapshot()
