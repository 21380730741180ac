"""Stream flow: raw PayTrace records -> canonical payments, re-emitted only on state change.

The dedupe table remembers a state only after the payment carrying it is acknowledged by
Kafka (the runtime's ``batch_done``), so a crash can cause a re-emit (harmless: sinks are
idempotent) but never a loss, whichever processing guarantee the worker runs with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.raw import RawPayTraceTransaction
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming
from stream.transform import InvalidRecord, to_payment


class PaymentNormalizer(StreamProcessor[RawPayTraceTransaction]):
    model = RawPayTraceTransaction
    ignored_reasons = ("no_output", "state_seen")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = self.table("payment-state")
        self._changed: dict[str, str] = {}

    def batch_started(self) -> None:
        self._changed = {}

    async def process(self, record: Incoming, value: RawPayTraceTransaction) -> Sequence[Emit]:
        try:
            payment = to_payment(value, self.ctx.mapping)
        except InvalidRecord as exc:
            raise Rejected(exc.reason, str(exc)) from exc
        except ValueError as exc:  # a value the transform cannot read (a date, an amount)
            raise Rejected("malformed", str(exc)) from exc
        key, fingerprint = payment.transaction_id, payment.fingerprint()
        if self._changed.get(key, self.state[key.encode()]) == fingerprint:
            raise Ignored("state_seen")  # the poll overlap or a replay
        self._changed[key] = fingerprint
        return [Emit("payments", key.encode(), payment.model_dump_json().encode())]

    def batch_done(self) -> None:
        for key, fingerprint in self._changed.items():
            self.state[key.encode()] = fingerprint
