"""Risk features of one payment against its customer's recent history. Pure: no I/O, no clock.

The customer is the vault id, else a one-way key of the billing name and zip, else the card's
type and last four. Per customer, ``CustomerState`` keeps at most ``MAX_EVENTS`` recent
attempts of the last 24 hours, a decline streak, an exponentially weighted mean and variance
of approved amounts, and sale and refund totals: a few hundred bytes as text in a table.
Time is the payment's own ``occurred_at``, so a replay computes the same features.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from schemas.payment import Payment, PaymentStatus, PaymentType

MAX_EVENTS = 64
DAY = 86_400
CARD_TEST_SECONDS = 600
MIN_HISTORY = 2  # approved amounts before "unusual for this customer" means anything
ALPHA_FLOOR = 0.05  # EW mean/variance: ~the last 20 amounts weigh most
VERSION = 1

DECLINED, AUTH, REFUND = 1, 2, 4
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


def customer_key(payment: Payment) -> str:
    """Whose history this payment extends; a payment naming nobody is its own customer."""
    if payment.customer_vault_id:
        return f"v:{payment.customer_vault_id}"[:120]
    if payment.billing_key:
        return f"b:{payment.billing_key}"
    if payment.last_four:
        return f"c:{payment.card_type or '?'}:{payment.last_four}"
    return f"t:{payment.transaction_id}"


def scored(payment: Payment) -> bool:
    return payment.type in SCORED_TYPES and payment.status in SCORED_STATUSES


def mismatch(response: str | None) -> float:
    """AVS/CSC wording -> 1 (no match), 0.5 (partial: address or zip only), 0 otherwise
    (match, or nothing checked: unavailable, not processed, non-US issuer)."""
    text = (response or "").lower()
    if "no match" in text or text in {"n", "not matched", "mismatch"}:
        return 1.0
    if "only" in text or "partial" in text:
        return 0.5
    return 0.0


def _money(amount: Decimal) -> float:
    value = float(amount)
    return value if math.isfinite(value) else 0.0


@dataclass
class CustomerState:
    first_seen: int = 0
    count: int = 0  # scored attempts ever
    streak: int = 0  # declines in a row
    amounts: int = 0  # approved amounts in the mean
    mean: float = 0.0
    var: float = 0.0
    sales: float = 0.0  # approved sale/authorization total
    refunds: float = 0.0
    # (epoch seconds, amount, flags, transaction id), oldest first
    events: deque[tuple[int, float, int, str]] = field(
        default_factory=lambda: deque(maxlen=MAX_EVENTS)
    )

    def dumps(self) -> str:
        return orjson.dumps(
            [
                VERSION,
                self.first_seen,
                self.count,
                self.streak,
                self.amounts,
                round(self.mean, 4),
                round(self.var, 4),
                round(self.sales, 2),
                round(self.refunds, 2),
                [list(e) for e in self.events],
            ]
        ).decode()

    @classmethod
    def loads(cls, text: str | bytes | None) -> CustomerState:
        """The stored state; empty (a new customer) for nothing, or for text it cannot read."""
        if not text:
            return cls()
        try:
            v, first, count, streak, amounts, mean, var, sales, refunds, events = orjson.loads(text)
            if v != VERSION:
                return cls()
            state = cls(int(first), int(count), int(streak), int(amounts), float(mean), float(var))
            state.sales, state.refunds = float(sales), float(refunds)
            state.events.extend((int(t), float(a), int(f), str(i)) for t, a, f, i in events)
            return state
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return cls()

    def seen(self, transaction_id: str) -> bool:
        return any(e[3] == transaction_id for e in self.events)


@dataclass(frozen=True)
class Thresholds:
    small_amount: float = 5.0
    high_amount: float = 1000.0


def observe(
    state: CustomerState, payment: Payment, limits: Thresholds = Thresholds()
) -> dict[str, float]:
    """The payment's features against ``state`` (its history so far), then ``state`` updated
    with it. Every value is a finite float."""
    now = int(payment.occurred_at.timestamp())
    amount = _money(payment.amount)
    declined = payment.status in (PaymentStatus.DECLINED, PaymentStatus.FAILED)
    refund = payment.type is PaymentType.REFUND
    flags = (
        (DECLINED if declined else 0)
        | (AUTH if payment.type is PaymentType.AUTHORIZATION else 0)
        | (REFUND if refund else 0)
    )
    events = state.events
    while events and events[0][0] < now - DAY:
        events.popleft()
    events.append((now, amount, flags, payment.transaction_id))

    # One pass over the (at most MAX_EVENTS) recent attempts, newest first.
    c1m = c1h = c24h = small = declines = 0
    a1m = a1h = a24h = 0.0
    small_amount = limits.small_amount
    for at, value, bits, _ in reversed(events):
        age = now - at
        if age >= DAY:
            continue
        c24h += 1
        a24h += value
        if age < 3_600:
            c1h += 1
            a1h += value
            declines += bits & DECLINED
            if age < CARD_TEST_SECONDS and value <= small_amount and bits & (DECLINED | AUTH):
                small += 1
            if age < 60:
                c1m += 1
                a1m += value
    f: dict[str, float] = {
        "count_1m": float(c1m),
        "amount_1m": a1m,
        "count_1h": float(c1h),
        "amount_1h": a1h,
        "count_24h": float(c24h),
        "amount_24h": a24h,
        "small_10m": float(small),
        "declines_1h": float(declines),
    }
    state.streak = state.streak + 1 if declined else 0
    f["decline_streak"] = float(state.streak)

    if state.amounts >= MIN_HISTORY and not refund:
        spread = math.sqrt(max(state.var, (0.1 * state.mean) ** 2, 1.0))
        f["amount_z"] = (amount - state.mean) / spread
        f["amount_ratio"] = amount / max(state.mean, 1.0)
    else:
        f["amount_z"], f["amount_ratio"] = 0.0, 1.0
    f["history"] = float(state.amounts)
    if refund:
        state.refunds += amount
    elif not declined:
        state.sales += amount
    f["refund_ratio"] = state.refunds / state.sales if state.sales > 0 else float(refund)
    f["avs_mismatch"] = mismatch(payment.avs_response)
    f["csc_mismatch"] = mismatch(payment.csc_response)
    f["first_seen"] = 1.0 if state.count == 0 else 0.0
    f["new_high_amount"] = float(state.count == 0 and amount >= limits.high_amount)
    hour = payment.local_hour
    f["night"] = 1.0 if hour is not None and hour < 5 else 0.0
    f["amount"] = amount

    if not declined and not refund:
        state.amounts += 1
        alpha = max(1.0 / state.amounts, ALPHA_FLOOR)
        delta = amount - state.mean
        state.mean += alpha * delta
        state.var = (1 - alpha) * (state.var + alpha * delta * delta)
    if state.count == 0:
        state.first_seen = now
    state.count += 1
    return {k: (v if math.isfinite(v) else 0.0) for k, v in f.items()}
