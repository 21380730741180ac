"""Stream flows: streaming risk scoring of payments, per customer.

The payments topic is keyed by transaction id, but the features are a customer's history.
``RiskKeyer`` therefore re-keys each scorable payment by its customer (vault id, else a
one-way key of the billing name and zip, else card type + last four) onto
``payments_by_customer``; ``PaymentRiskScorer`` reads that topic, so every payment of one
customer reaches the same partition, in order, and its state (table ``risk-state``, key = the
customer, in that same partition) is always local to the worker that scores it, after a
rebalance and a restart too. The scores go out keyed by transaction id again.

The keyer reads only the fields scoring needs (``schemas.risk.RiskInput``) and forwards them
as a small ``schemas.risk.RiskEvent``, so the scorer never parses a whole payment. Scoring is
``stream.risk_engine.RiskEngine``: each partition's customers and anomaly detector held in
memory, read from the table on first use. The table is written after the batch's outputs are
acknowledged (``batch_done``), as the normalizer does. On any rebalance the engine drops what
it holds and reads it back from the table, which Faust restored for the partitions this
worker now has, so a partition another worker scored meanwhile is never scored from stale
memory. The detector's snapshot lives in the same table under keys the default partitioner
puts in its partition, so it moves and recovers with the partition. Customers idle for over
a day of event time are deleted from the table (a tombstone on its changelog).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from schemas.risk import RiskEvent, RiskInput
from stream import metrics
from stream.risk_engine import RiskEngine
from stream.risk_event import Event, read_event
from stream.risk_features import Thresholds, event_fields, scored
from stream.runtime import limits
from stream.runtime.outcomes import Ignored
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming


class RiskKeyer(StreamProcessor[RiskInput]):
    """payments (key: transaction id) -> payments_by_customer (key: the customer)."""

    model = RiskInput
    ignored_reasons = ("no_output", "not_scored")

    async def process(self, record: Incoming, value: RiskInput) -> Sequence[Emit]:
        if not scored(value):
            raise Ignored("not_scored")  # a later state of an attempt already scored
        event = event_fields(value)
        customer = str(event["customer"]).encode()
        return [Emit("payments_by_customer", customer, orjson.dumps(event))]


class PaymentRiskScorer(StreamProcessor[Any]):
    model = RiskEvent  # the record's schema; read by ``decode`` without the model
    ignored_reasons = ("no_output", "state_seen")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = self.table("risk-state")
        risk = self.ctx.mapping.risk
        self.engine = RiskEngine(
            risk.review_threshold,
            Thresholds(risk.small_amount, risk.high_amount),
            self.ctx.kafka.partitions,
            self.state.__getitem__,
        )

    @property
    def batch_seconds(self) -> float:
        # Longer than a stream stage's window: each batch writes every touched partition's detector
        # snapshot (~5 KB) and its customers, and the action sink waits 5 s for its own
        # batches anyway, so fuller batches cost no visible latency.
        return 1.0

    def attach(self) -> None:
        super().attach()
        self.ctx.app.on_partitions_revoked.connect(self.forget)
        self.ctx.app.on_partitions_assigned.connect(self.forget)

    def forget(self, *_: Any, **__: Any) -> None:
        """A rebalance: drop what memory holds; the table has it (written every batch)."""
        self.engine.forget()

    def decode(self, record: Incoming) -> Event:
        """The keyer's record, past the door's limits, read with orjson and ``RiskEvent``'s
        rules (stream/risk_event.py): a pydantic parse per payment cost too much here."""
        return read_event(limits.check(record.key, record.value, self.limits))

    async def process(self, record: Incoming, value: Event) -> Sequence[Emit]:
        scored_ = self.engine.score(record.partition or 0, value)
        if scored_ is None:
            raise Ignored("state_seen")  # a replay of an attempt already counted
        metrics.RISK_SCORE.observe(scored_.score)
        if scored_.flagged:
            metrics.RISK_HIGH.inc(scored_.flagged)
        return [Emit("payments_risk", tx.encode(), body) for tx, body in scored_.records]

    def batch_done(self) -> None:
        for key, text in self.engine.changes():
            self.state[key] = text
        for partition in self.engine.sweep_due():
            for key in self.engine.sweep(partition, self.state.keys):
                del self.state[key]
