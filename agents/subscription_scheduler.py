"""Stream flow: subscription changes (CDC) and the billing clock -> charge commands for due
periods, partitioned by subscription id.

The table ``subscription-state`` holds each subscription as Salesforce last told us (the CDC
values merged, own write-backs included: they carry the next charge date and the dunning
state), restored from its changelog after a restart. Every worker schedules the partitions it
owns on a timer: no leader does all the scheduling. A command is a request: the charge ledger
lets each key charge once, and the charge path confirms it against the current record, so a
command emitted twice (a timer racing a change, a restart) charges nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from agents.subscription_charges import SUBSCRIPTION, card_summary
from connectors.salesforce.ids import is_valid_id
from schemas.collection import ChargeCommand, SalesforceChange
from stream import metrics
from stream.billing import metrics as billing_metrics
from stream.billing.clock import Clock
from stream.billing.state import NotBillable, Subscription, period_key
from stream.pci import redact_text
from stream.runtime.outcomes import Ignored, Rejected
from stream.runtime.processor import Emit, StreamProcessor
from stream.runtime.records import Incoming

log = logging.getLogger(__name__)
RESEND_SECONDS = 20.0  # a command still due this long after it was sent is sent again
CARD_CHECK_SECONDS = 10.0  # how often a subscription in dunning asks the vault for its card


def command(subscription_id: str, key: str) -> Emit:
    value = ChargeCommand(
        key=key,
        object=SUBSCRIPTION,
        record_id=subscription_id,
        trigger="subscription",
        requested_at=datetime.now(UTC),
    )
    return Emit("charge_commands", key.encode(), value.model_dump_json().encode())


class SubscriptionScheduler(StreamProcessor[SalesforceChange]):
    model = SalesforceChange
    ignored_reasons = ("no_output", "not_subscription", "not_due")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.state = self.table("subscription-state")
        self.clock = Clock()
        self._pending: dict[bytes, str | None] = {}  # this batch's updates, stored after acks
        self._sent: dict[str, float] = {}  # key -> monotonic time it was last sent
        self._card_checked: dict[str, float] = {}

    @property
    def tick_seconds(self) -> float:
        if self.clock.settings.file is not None:
            return 0.5  # a stepped clock may jump a day at any moment
        return max(0.1, min(5.0, self.clock.wall_seconds(0.25)))

    def attach(self) -> None:
        super().attach()
        self.every(self.tick_seconds, self.tick, name="subscription_tick")

    # -- changes -------------------------------------------------------------------------
    def fields_of(self, record_id: str) -> dict[str, Any] | None:
        key = record_id.encode()
        raw = self._pending[key] if key in self._pending else self.state.get(key)
        return orjson.loads(raw) if raw else None

    async def process(self, record: Incoming, value: SalesforceChange) -> Sequence[Emit]:
        m = self.ctx.mapping.subscriptions
        if value.entity != m.object:
            raise Ignored("not_subscription")
        if any(not is_valid_id(rid) for rid in value.record_ids):
            raise Rejected("invalid_record_id", "a record id is no Salesforce id")
        if value.change_type.startswith("GAP_"):
            raise Ignored("no_output")  # the CDC source publishes the records' state beside it
        emits: list[Emit] = []
        for rid in value.record_ids:
            if value.change_type == "DELETE":
                self._pending[rid.encode()] = None
                continue
            # A resync row is the whole record as it is now (its empty fields left out):
            # it replaces what we held; a change event carries only what changed.
            fields = {} if value.source == "resync" else self.fields_of(rid) or {}
            fields.update(value.values)
            for name in value.changed_fields:  # a nulled field is named but carries no value
                if name not in value.values:
                    fields[name] = None
            self._pending[rid.encode()] = orjson.dumps(fields).decode()
            emits.extend(self.due(rid, fields, force=True))
        if not emits:
            raise Ignored("not_due")
        return emits

    def batch_started(self) -> None:
        self._pending.clear()

    def batch_done(self) -> None:
        for key, raw in self._pending.items():
            if raw is None:
                self.state.pop(key, None)
            else:
                self.state[key] = raw
        self._pending.clear()

    # -- what is due ---------------------------------------------------------------------
    def due(
        self, rid: str, fields: dict[str, Any], *, force: bool = False, card: str | None = None
    ) -> list[Emit]:
        m = self.ctx.mapping.subscriptions
        try:
            sub = Subscription.from_record(rid, fields, m)
        except NotBillable as exc:
            log.info("%s: %s is not billable: %s", self.name, rid, exc)
            return []
        found = sub.safe_due(self.clock.today(m.time_zone), current_card=card)
        if found is None:
            return []
        key = period_key(rid, *found)
        sent_at = self._sent.get(key)
        now = time.monotonic()
        if sent_at is not None and not force and now - sent_at < RESEND_SECONDS:
            return []
        if sent_at is None:
            billing_metrics.PERIODS.labels("due").inc()
        self._sent[key] = now
        return [command(rid, key)]

    async def tick(self) -> None:
        """Every subscription this worker holds: anything the clock made due is sent. A failed
        tick (the broker refusing a send) is logged and counted; the next one sends again."""
        try:
            await self._tick()
        except Exception as exc:
            metrics.EVENTS_FAILED.labels(self.name).inc()
            log.warning("%s: tick failed: %s", self.name, redact_text(repr(exc))[:300])

    async def _tick(self) -> None:
        m = self.ctx.mapping.subscriptions
        at_risk = Decimal(0)
        topic = self.ctx.topic("charge_commands")
        for key, raw in list(self.state.items()):
            if not raw:
                continue
            rid = key.decode()
            fields = orjson.loads(raw)
            card = None
            if fields.get(m.fields.dunning_period):
                at_risk += _amount(fields.get(m.fields.amount))
                card = await self.current_card(rid, fields)
            for out in self.due(rid, fields, card=card):
                await topic.send(key=out.key, value=out.value)
        billing_metrics.REVENUE_AT_RISK.set(float(at_risk))
        if len(self._sent) > 100_000:  # bounded memory: old entries only throttle resends
            self._sent.clear()

    async def current_card(self, rid: str, fields: dict[str, Any]) -> str | None:
        """The vault's card now, for a subscription whose last attempt declined: a new card
        is worth an attempt at once. Asked at most every few seconds per subscription."""
        m = self.ctx.mapping.subscriptions
        vault = fields.get(m.fields.vault_id)
        now = time.monotonic()
        if not vault or not fields.get(m.fields.declined_card):
            return None
        if now - self._card_checked.get(rid, 0.0) < CARD_CHECK_SECONDS:
            return None
        self._card_checked[rid] = now
        try:
            return await card_summary(self.ctx.connectors.paytrace(), str(vault))
        except Exception as exc:  # an outage: ask again next time
            log.info("%s: vault look-up for %s failed: %r", self.name, rid, exc)
            return None


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)
