"""Risk features of one payment against its customer's recent history. Pure: no I/O, no clock.

The customer is the vault id, else a one-way key of the billing name and zip, else the card's
type and last four. Per customer, ``CustomerState`` keeps at most ``MAX_EVENTS`` attempts of
the last 24 hours, a decline streak, an exponentially weighted mean and deviation of approved
amounts, and sale and refund totals: a few hundred bytes as text in a table.

The windows (1 minute, 10 minutes, 1 hour, 24 hours) are sliding and incremental: each keeps
where it starts in the attempt list and its running sums, and a new attempt only moves the
starts past what fell out, so a payment costs the same whatever the customer's history.
Time is the payment's own ``occurred_at`` and never runs backwards per customer, so a replay
computes the same features and a late record counts as "now".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import orjson

from schemas.payment import PaymentStatus, PaymentType
from schemas.risk import RiskEvent, RiskInput
from stream.risk_event import EventLike

MAX_EVENTS = 64
DAY = 86_400
MINUTE, CARD_TEST_SECONDS, HOUR = 60, 600, 3_600
WINDOWS = (MINUTE, CARD_TEST_SECONDS, HOUR, DAY)
W1M, W10M, W1H, W24H = range(4)
MIN_HISTORY = 2  # approved amounts before "unusual for this customer" means anything
ALPHA_FLOOR = 0.05  # EW mean/variance: ~the last 20 amounts weigh most
# Amounts above this count as this much, and the sale and refund totals are halved together
# (their ratio kept) before passing it: no stored number reaches 13 digits, the length a card
# scanner reads as a card number in the table's changelog (stream/pci.py).
AMOUNT_CAP = 1e9
VERSION = 2
TRIM_AT = 32  # attempts fallen out of every window before the list is cut

DECLINED, AUTH, REFUND, FLAGGED, SMALL = 1, 2, 4, 8, 16
# The first state a transaction is seen in; later ones (settled, captured, voided) are the
# same attempt again and are not scored.
SCORED_STATUSES = frozenset(
    {
        PaymentStatus.APPROVED,
        PaymentStatus.DECLINED,
        PaymentStatus.AUTHORIZED,
        PaymentStatus.REFUNDED,
        PaymentStatus.FAILED,
    }
)
SCORED_TYPES = frozenset({PaymentType.SALE, PaymentType.AUTHORIZATION, PaymentType.REFUND})


def customer_key(payment: RiskInput) -> str:
    """Whose history this payment extends; a payment naming nobody is its own customer."""
    if payment.customer_vault_id:
        return f"v:{payment.customer_vault_id}"[:120]
    if payment.billing_key:
        return f"b:{payment.billing_key}"
    if payment.last_four:
        return f"c:{payment.card_type or '?'}:{payment.last_four}"[:120]
    return f"t:{payment.transaction_id}"


def scored(payment: RiskInput) -> bool:
    return payment.type in SCORED_TYPES and payment.status in SCORED_STATUSES


def event_fields(payment: RiskInput) -> dict[str, object]:
    """The keyer's record for the scorer (``schemas.risk.RiskEvent``), as fields. An AVS or
    CSC answer that says nothing (``mismatch`` 0, as for none) is left out: a "csc" field sent
    every record through the outbound card-code scan (stream/pci.py), ~100 us each."""
    fields: dict[str, object] = {
        "id": payment.transaction_id,
        "customer": customer_key(payment),
        "type": payment.type.value,
        "status": payment.status.value,
        "amount": payment.amount,
        "at": int(payment.occurred_at.timestamp()),
        "occurred_at": payment.occurred_at.isoformat(),
        "currency": payment.currency[:3],
        "hour": payment.local_hour,
    }
    avs, csc = payment.avs_response, payment.csc_response
    if avs and mismatch(avs[:80]):
        fields["avs"] = avs[:80]
    if csc and mismatch(csc[:80]):
        fields["csc"] = csc[:80]
    return fields


def event_of(payment: RiskInput) -> RiskEvent:
    return RiskEvent.model_validate(event_fields(payment))


@lru_cache(maxsize=256)  # gateways answer in a handful of phrases
def mismatch(response: str | None) -> float:
    """AVS/CSC wording -> 1 (no match), 0.5 (partial: address or zip only), 0 otherwise
    (match, or nothing checked: unavailable, not processed, non-US issuer)."""
    if not response:
        return 0.0
    text = response.lower()
    if "no match" in text or text in {"n", "not matched", "mismatch"}:
        return 1.0
    if "only" in text or "partial" in text:
        return 0.5
    return 0.0


@dataclass(frozen=True)
class Thresholds:
    small_amount: float = 5.0
    high_amount: float = 1000.0


class CustomerState:
    """One customer's recent attempts (parallel lists, oldest first) and running figures."""

    __slots__ = (
        "amounts",
        "approved_1m",
        "bits",
        "count",
        "declines_1h",
        "first_seen",
        "ids",
        "last_seen",
        "mean",
        "refunds",
        "sales",
        "small_10m",
        "start",
        "std",
        "streak",
        "sums",
        "times",
        "values",
    )

    def __init__(self) -> None:
        self.first_seen = self.last_seen = 0
        self.count = 0  # scored attempts ever
        self.streak = 0  # declines in a row
        self.amounts = 0  # approved amounts in the mean
        self.mean = self.std = self.sales = self.refunds = 0.0  # std: of approved amounts
        self.times: list[int] = []
        self.values: list[float] = []
        self.bits: list[int] = []
        self.ids: list[str] = []
        self.start = [0, 0, 0, 0]  # index of each window's oldest attempt
        self.sums = [0.0, 0.0, 0.0, 0.0]  # amounts in each window
        self.small_10m = 0  # small declines or authorizations in 10 minutes
        self.declines_1h = 0
        self.approved_1m = 0  # attempts in the last minute that were not declined

    def __len__(self) -> int:
        """Attempts in the last 24 hours (at most ``MAX_EVENTS``)."""
        return len(self.times) - self.start[W24H]

    def window_count(self, window: int) -> int:
        return len(self.times) - self.start[window]

    def _advance(self, now: int, room: int = 1) -> None:
        """Move every window's start past the attempts that fell out of it by ``now``, and
        keep at most ``MAX_EVENTS - room`` live ones (``room`` for the attempt to come)."""
        times, values, bits, start, sums = self.times, self.values, self.bits, self.start, self.sums
        end = len(times)
        floor = end + room - MAX_EVENTS
        # Unrolled per window: each has its own counter to keep (a hot path).
        i = start[W1M]
        while i < end and (times[i] <= now - MINUTE or i < floor):
            sums[W1M] -= values[i]
            if not bits[i] & (DECLINED | REFUND):
                self.approved_1m -= 1
            i += 1
        start[W1M] = i
        i = start[W10M]
        while i < end and (times[i] <= now - CARD_TEST_SECONDS or i < floor):
            sums[W10M] -= values[i]
            if bits[i] & SMALL and bits[i] & (DECLINED | AUTH):
                self.small_10m -= 1
            i += 1
        start[W10M] = i
        i = start[W1H]
        while i < end and (times[i] <= now - HOUR or i < floor):
            sums[W1H] -= values[i]
            if bits[i] & DECLINED:
                self.declines_1h -= 1
            i += 1
        start[W1H] = i
        i = start[W24H]
        while i < end and (times[i] <= now - DAY or i < floor):
            sums[W24H] -= values[i]
            i += 1
        start[W24H] = i
        if i >= TRIM_AT:  # cut what every window left behind, now and then
            del times[:i], values[:i], bits[:i], self.ids[:i]
            self.start = [s - i for s in start]

    def _append(self, at: int, amount: float, b: int, transaction_id: str) -> None:
        self.times.append(at)
        self.values.append(amount)
        self.bits.append(b)
        self.ids.append(transaction_id)
        sums = self.sums
        sums[0] += amount
        sums[1] += amount
        sums[2] += amount
        sums[3] += amount
        if b & SMALL and b & (DECLINED | AUTH):
            self.small_10m += 1
        if b & DECLINED:
            self.declines_1h += 1
        if not b & (DECLINED | REFUND):
            self.approved_1m += 1

    def seen(self, transaction_id: str) -> bool:
        # Attempts out of every window but not cut yet count too: they were counted.
        return transaction_id in self.ids

    def flag_last(self) -> None:
        self.bits[-1] |= FLAGGED

    def unflagged_since(self, at: int) -> list[int]:
        """Indexes of the attempts since ``at`` (the newest excluded) not flagged yet."""
        times, bits = self.times, self.bits
        return [
            i
            for i in range(self.start[W24H], len(times) - 1)
            if times[i] >= at and not bits[i] & FLAGGED
        ]

    def expired(self, now: int) -> bool:
        """Idle longer than the longest window: nothing of it counts any more."""
        return now - self.last_seen > DAY

    def dumps(self) -> str:
        live = self.start[W24H]
        return orjson.dumps(
            [
                VERSION,
                self.first_seen,
                self.last_seen,
                self.count,
                self.streak,
                self.amounts,
                self.mean,
                self.std,
                self.sales,
                self.refunds,
                self.times[live:],
                self.values[live:],
                self.bits[live:],
                self.ids[live:],
            ]
        ).decode()

    @classmethod
    def loads(cls, text: str | bytes | None) -> CustomerState:
        """The stored state; empty (a new customer) for nothing, or for text it cannot read."""
        state = cls()
        if not text:
            return state
        try:
            (
                v,
                first,
                last,
                count,
                streak,
                amounts,
                mean,
                std,
                sales,
                refunds,
                times,
                values,
                bits,
                ids,
            ) = orjson.loads(text)
            if v != VERSION or not len(times) == len(values) == len(bits) == len(ids):
                return cls()
            state.first_seen, state.last_seen = int(first), int(last)
            state.count, state.streak, state.amounts = int(count), int(streak), int(amounts)
            state.mean, state.std = float(mean), float(std)
            state.sales, state.refunds = float(sales), float(refunds)
            for at, amount, b, tx in zip(times, values, bits, ids, strict=True):
                state._append(int(at), float(amount), int(b), str(tx))
            state._advance(state.last_seen, room=0)
            return state
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return cls()


_DECLINED, _FAILED = PaymentStatus.DECLINED, PaymentStatus.FAILED
_REFUND, _AUTHORIZATION = PaymentType.REFUND, PaymentType.AUTHORIZATION
_DEFAULT_LIMITS = Thresholds()


def observe(
    state: CustomerState, payment: EventLike, limits: Thresholds = _DEFAULT_LIMITS
) -> dict[str, float]:
    """The payment's features against ``state`` (its history so far), then ``state`` updated
    with it. Every value is a finite float."""
    last = state.last_seen
    now = payment.at if payment.at > last else last
    amount = payment.amount
    amount = round(amount, 2) if amount < AMOUNT_CAP else AMOUNT_CAP
    status, kind = payment.status, payment.type
    declined = status is _DECLINED or status is _FAILED
    refund = kind is _REFUND
    b = (DECLINED if declined else 0) | (REFUND if refund else 0)
    if kind is _AUTHORIZATION:
        b |= AUTH
    if amount <= limits.small_amount:
        b |= SMALL
    state._advance(now)
    prior_approved_1m = state.approved_1m
    prior_1m = len(state.times) - state.start[W1M]
    state._append(now, amount, b, payment.id)
    state.last_seen = now
    sums, ends, start = state.sums, len(state.times), state.start
    streak = state.streak = state.streak + 1 if declined else 0
    amounts, mean = state.amounts, state.mean
    if amounts >= MIN_HISTORY and not refund:
        spread = max(state.std, 0.1 * mean, 1.0)
        amount_z = (amount - mean) / spread
        amount_ratio = amount / max(mean, 1.0)
    else:
        amount_z, amount_ratio = 0.0, 1.0
    # Sums and running figures are kept rounded (cents; 4 decimals): the stored text then has
    # no long digit runs (AMOUNT_CAP), and a restored state is exactly the live one.
    if refund:
        state.refunds = round(state.refunds + amount, 2)
    elif not declined:
        state.sales = round(state.sales + amount, 2)
    if state.sales >= AMOUNT_CAP or state.refunds >= AMOUNT_CAP:
        state.sales, state.refunds = round(state.sales / 2, 2), round(state.refunds / 2, 2)
    sales = state.sales
    first = state.count == 0
    hour = payment.hour
    f = {
        "count_1m": float(prior_1m + 1),
        "amount_1m": sums[W1M],
        "count_1h": float(ends - start[W1H]),
        "amount_1h": sums[W1H],
        "count_24h": float(ends - start[W24H]),
        "amount_24h": sums[W24H],
        "small_10m": float(state.small_10m),
        "declines_1h": float(state.declines_1h),
        "prior_approved_1m": float(prior_approved_1m),
        "prior_declined_1m": float(prior_1m - prior_approved_1m),
        "refund": 1.0 if refund else 0.0,
        "decline_streak": float(streak),
        "history": float(amounts),
        "amount": amount,
        "amount_z": amount_z,
        "amount_ratio": amount_ratio,
        "refund_ratio": state.refunds / sales if sales > 0 else float(refund),
        "avs_mismatch": mismatch(payment.avs),
        "csc_mismatch": mismatch(payment.csc),
        "first_seen": 1.0 if first else 0.0,
        "new_high_amount": 1.0 if first and amount >= limits.high_amount else 0.0,
        "night": 1.0 if hour is not None and hour < 5 else 0.0,
    }
    if not declined and not refund:
        amounts = state.amounts = amounts + 1
        alpha = 1.0 / amounts if amounts < 1 / ALPHA_FLOOR else ALPHA_FLOOR
        delta = amount - mean
        state.mean = round(mean + alpha * delta, 4)
        state.std = round(math.sqrt((1 - alpha) * (state.std**2 + alpha * delta * delta)), 4)
    if first:
        state.first_seen = now
    state.count += 1
    return f
