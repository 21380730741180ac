"""The scoring stage without Kafka: per partition, its customers' states and its anomaly
detector held in memory, read through a ``load`` function from wherever they are stored
(the ``risk-state`` table in agents/risk_scorer.py, a dict in bench/risk.py), and written back
by the caller once per batch from ``changes``. No I/O of its own, no clock: time is the
payments' own.

A payment flagged by a burst rule takes its burst's earlier attempts along (10 minutes back,
those not flagged yet): they were its start, so they get the burst's score as new records,
and the last score of a transaction wins downstream. Customers idle for over a day of event
time are dropped (``sweep``), so state is bounded by the customers active in a day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import orjson
from aiokafka.partitioner import murmur2

from stream.risk_event import EventLike
from stream.risk_features import (
    AUTH,
    CARD_TEST_SECONDS,
    DECLINED,
    FLAGGED,
    REFUND,
    CustomerState,
    Thresholds,
    observe,
)
from stream.risk_model import Detector, detector_input, score

MAX_REASON_CHARS = 200
SWEEP_SECONDS = 3_600  # event time between two sweeps of a partition's idle customers
Load = Callable[[bytes], str | None]


@cache
def model_key(partition: int, partitions: int, part: str = "cur") -> bytes:
    """A table key the default partitioner (murmur2, as aiokafka's) puts in ``partition``."""
    partition %= partitions
    n = 0
    while True:
        key = f"~risk-model:{part}:{partition}:{n}".encode()
        if partition_of(key, partitions) == partition:
            return key
        n += 1


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def risk_record(
    transaction_id: str,
    customer: str,
    value: float,
    reasons: Sequence[str],
    occurred_at: datetime | str,
    amount: float,
    currency: str,
    payment_type: str,
    payment_status: str,
) -> bytes:
    """A ``schemas.risk.RiskScore`` as JSON, built without a model round trip per payment."""
    return orjson.dumps(
        {
            "transaction_id": transaction_id,
            "customer_key": customer[:128],
            "score": value,
            "reasons": [r[:MAX_REASON_CHARS] for r in reasons],
            "occurred_at": occurred_at,
            "amount": f"{amount:.2f}",
            "currency": currency,
            "payment_type": payment_type,
            "payment_status": payment_status,
        }
    )


@dataclass(slots=True)
class Scored:
    """What one payment produced: (transaction id, RiskScore JSON) records, the payment's
    own first, and how many of them are at or above the review threshold."""

    records: list[tuple[str, bytes]]
    flagged: int
    score: float


class RiskEngine:
    def __init__(self, review: float, limits: Thresholds, partitions: int, load: Load) -> None:
        self.review = review
        self.limits = limits
        self.partitions = partitions
        self.load = load
        self.customers: dict[int, dict[bytes, CustomerState]] = {}
        self.detectors: dict[int, Detector] = {}
        self.clock: dict[int, int] = {}  # newest event time seen per partition
        self.swept: dict[int, int] = {}  # event time of each partition's last sweep
        self.changed: dict[bytes, CustomerState] = {}
        self.touched: set[int] = set()
        # Per partition, its customers' keys in the store: a sweep reads only its own. Built
        # from the store's keys once (after a rebalance), then kept up to date: hashing every
        # stored key per partition per sweep was most of the scorer's partitioner calls.
        self.index: dict[int, set[bytes]] = {}
        self.indexed = False

    def forget(self) -> None:
        """Drop everything held in memory: it is read again through ``load``. The states a
        batch in flight changed stay in ``changed``: its scores were sent from them, so they
        are still written when the batch is done."""
        self.customers.clear()
        self.detectors.clear()
        self.clock.clear()
        self.swept.clear()
        self.touched.clear()
        self.index.clear()
        self.indexed = False

    def detector(self, partition: int) -> Detector:
        found = self.detectors.get(partition)
        if found is None:
            found = self.detectors[partition] = Detector.restore(
                self.load(model_key(partition, self.partitions, "cur")),
                self.load(model_key(partition, self.partitions, "prev")),
            )
        return found

    def customer(self, partition: int, key: bytes) -> CustomerState:
        held = self.customers.setdefault(partition, {})
        found = held.get(key)
        if found is None:
            found = held[key] = CustomerState.loads(self.load(key))
        return found

    def score(self, partition: int, payment: EventLike) -> Scored | None:
        """The payment's records, or None when its customer's state already counted it."""
        customer = payment.customer
        key = customer.encode()
        anonymous = customer.startswith("t:")  # a payment naming nobody has no history
        state = CustomerState() if anonymous else self.customer(partition, key)
        if state.seen(payment.id):
            return None
        features = observe(state, payment, self.limits)
        result = score(features, self.detector(partition).score_and_learn(detector_input(features)))
        if not anonymous:
            self.changed[key] = state
            self.index.setdefault(partition, set()).add(key)
        self.touched.add(partition)
        if state.last_seen > self.clock.get(partition, 0):
            self.clock[partition] = state.last_seen
        records = [
            (
                payment.id,
                risk_record(
                    payment.id,
                    customer,
                    result.score,
                    result.reasons,
                    payment.occurred_at,
                    payment.amount,
                    payment.currency,
                    payment.type,  # str enums: orjson writes their value
                    payment.status,
                ),
            )
        ]
        if result.score < self.review:
            return Scored(records, 0, result.score)
        state.flag_last()
        if result.burst:
            records += self._burst_members(state, customer, result.score, result.reasons, payment)
        return Scored(records, len(records), result.score)

    def _burst_members(
        self,
        state: CustomerState,
        customer: str,
        value: float,
        reasons: Sequence[str],
        payment: EventLike,
    ) -> list[tuple[str, bytes]]:
        why = [f"earlier attempt of a burst: {reasons[0]}" if reasons else "earlier attempt"]
        out = []
        for i in state.unflagged_since(state.last_seen - CARD_TEST_SECONDS):
            state.bits[i] |= FLAGGED  # once: a long burst does not send its start again
            bits = state.bits[i]
            kind = "refund" if bits & REFUND else "authorization" if bits & AUTH else "sale"
            tx = state.ids[i]
            at = datetime.fromtimestamp(state.times[i], UTC)
            status = "declined" if bits & DECLINED else "approved"
            why_all = [*why, *reasons[1:]]
            out.append(
                (
                    tx,
                    risk_record(
                        tx,
                        customer,
                        value,
                        why_all,
                        at,
                        state.values[i],
                        payment.currency,
                        kind,
                        status,
                    ),
                )
            )
        return out

    def changes(self) -> list[tuple[bytes, str]]:
        """What to store after the batch (changed customers, touched detectors), then reset."""
        out = [(key, state.dumps()) for key, state in self.changed.items()]
        for partition in self.touched:
            detector = self.detectors.get(partition)
            if detector is None:  # dropped by a rebalance: its partition reloads it
                continue
            if detector.rolled:
                out.append(
                    (model_key(partition, self.partitions, "prev"), detector.snapshot_previous())
                )
            out.append((model_key(partition, self.partitions, "cur"), detector.snapshot()))
        self.changed, self.touched = {}, set()
        return out

    def sweep_due(self) -> list[int]:
        """Partitions whose event time moved on by ``SWEEP_SECONDS`` since their last sweep."""
        due = []
        for partition, now in self.clock.items():
            if now - self.swept.setdefault(partition, now) >= SWEEP_SECONDS:
                due.append(partition)
        return due

    def sweep(self, partition: int, stored: Callable[[], Iterable[bytes]]) -> list[bytes]:
        """Of the stored customers of ``partition`` (``stored`` lists every key of the store,
        read only to build the index), those idle for over a day of event time: dropped from
        memory; the caller deletes them from the store."""
        if not self.indexed:
            for key in stored():
                if not key.startswith(b"~"):
                    self.index.setdefault(partition_of(key, self.partitions), set()).add(key)
            self.indexed = True
        now = self.clock.get(partition, 0)
        self.swept[partition] = now
        held = self.customers.get(partition, {})
        keys = self.index.get(partition, set())
        idle = []
        for key in keys:
            state = held.get(key) or CustomerState.loads(self.load(key))
            if state.expired(now):
                held.pop(key, None)
                idle.append(key)
        keys.difference_update(idle)
        return idle
