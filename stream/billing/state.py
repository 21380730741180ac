"""A subscription as Salesforce holds it, what is due on it today, and what an attempt's outcome
writes back. Pure: the scheduler (agents/subscription_scheduler.py) and the charge path
(agents/subscription_charges.py) share these rules, so a command the scheduler emits is exactly
one the charge path confirms against the current record.

Keys: a period's first attempt is ``sub:<id>:<period date>``, the n-th retry of that period
``sub:<id>:<period date>:try<n>``. The charge ledger lets each key charge once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from stream.billing.schedule import Frequency, Schedule
from stream.mapping import SubscriptionMapping, SubscriptionStatus

KEY_PREFIX = "sub"
MAX_WHOLE = 1_000_000  # counts, days and anchors are small: anything larger is a typo


class NotBillable(ValueError):
    """The record cannot be scheduled (a missing or malformed field); says which."""


def period_key(subscription_id: str, period: date, attempt: int = 0) -> str:
    base = f"{KEY_PREFIX}:{subscription_id}:{period.isoformat()}"
    return f"{base}:try{attempt}" if attempt else base


def parse_key(key: str) -> tuple[str, date, int] | None:
    """(subscription id, period, attempt) of a well-formed key, else None."""
    parts = key.split(":")
    if len(parts) not in (3, 4) or parts[0] != KEY_PREFIX:
        return None
    attempt = 0
    if len(parts) == 4:
        if not parts[3].startswith("try") or not parts[3][3:].isdigit():
            return None
        attempt = int(parts[3][3:])
        if attempt == 0 or parts[3] != f"try{attempt}":
            return None  # one spelling per attempt: try0 is the plain key
    try:
        period = date.fromisoformat(parts[2])
    except ValueError:
        return None
    if parts[2] != period.isoformat():
        return None
    return parts[1], period, attempt


EPOCH = date(1970, 1, 1)


def _date(value: Any) -> date | None:
    """A date from the REST API (ISO text) or a change event (days since the epoch)."""
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return EPOCH + timedelta(days=value)
        except OverflowError as exc:
            raise NotBillable(f"{value} days is no date") from exc
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise NotBillable(f"{value!r} is not a date") from exc


def _int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = float(value)
        whole = int(number)
    except (TypeError, ValueError, OverflowError) as exc:  # text, NaN, infinity
        raise NotBillable(f"{str(value)[:40]!r} is not a number") from exc
    if number != whole or whole < 0 or whole > MAX_WHOLE:
        raise NotBillable(f"{str(value)[:40]!r} is not a whole number in range")
    return whole


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str  # a mapping status key: active, past_due, suspended, cancelled (or "")
    schedule: Schedule
    amount: Decimal
    next_charge: date | None
    periods_charged: int
    dunning_period: date | None
    dunning_attempt: int
    next_retry: date | None
    retry_now: bool
    account_id: str | None
    vault_id: str | None
    declined_card: str | None = None  # the vault card (masked) the last decline was on

    @classmethod
    def from_record(
        cls, record_id: str, record: dict[str, Any], m: SubscriptionMapping
    ) -> Subscription:
        f = m.fields
        status_label = str(record.get(f.status) or "")
        status = next((k for k, v in m.statuses.items() if v == status_label), "")
        frequency = m.frequency_of(str(record.get(f.frequency) or ""))
        if frequency is None:
            raise NotBillable(f"{f.frequency} {str(record.get(f.frequency))[:40]!r} is unknown")
        start = _date(record.get(f.start_date))
        if start is None:
            raise NotBillable(f"{f.start_date} is empty")
        try:
            schedule = Schedule(
                Frequency(frequency),
                start,
                anchor_day=_int(record.get(f.anchor_day)),
                interval_days=_int(record.get(f.interval_days)) or 1,
                end=_date(record.get(f.end_date)),
                total_count=_int(record.get(f.total_count)),
            )
        except ValueError as exc:
            raise NotBillable(str(exc)) from exc
        try:
            amount = Decimal(str(record.get(f.amount))).quantize(Decimal("0.01"))
        except (InvalidOperation, ValueError):
            amount = Decimal(0)
        if not amount.is_finite():
            amount = Decimal(0)
        return cls(
            id=record_id,
            status=status,
            schedule=schedule,
            amount=amount,
            next_charge=_date(record.get(f.next_charge_date)),
            periods_charged=_int(record.get(f.periods_charged)) or 0,
            dunning_period=_date(record.get(f.dunning_period)),
            dunning_attempt=_int(record.get(f.dunning_attempt)) or 0,
            next_retry=_date(record.get(f.next_retry_date)),
            retry_now=bool(record.get(f.retry_now)),
            account_id=str(record.get(f.account) or "") or None,
            vault_id=str(record.get(f.vault_id) or "") or None,
            declined_card=str(record.get(f.declined_card) or "") or None,
        )

    def safe_due(self, today: date, current_card: str | None = None) -> tuple[date, int] | None:
        """``due``, or None when the schedule runs off the calendar (year 9999)."""
        try:
            return self.due(today, current_card)
        except (ValueError, OverflowError):
            return None

    @property
    def first_due(self) -> date | None:
        """Where billing stands: the next charge date, or the schedule's first one."""
        if self.next_charge is not None:
            return self.next_charge
        if self.periods_charged:
            return None  # billed to its end
        return self.schedule.next_after(None)

    def card_changed(self, current: str | None) -> bool:
        """Whether the vault holds another card than the one the last decline was on."""
        return bool(self.declined_card and current and current != self.declined_card)

    def due(self, today: date, current_card: str | None = None) -> tuple[date, int] | None:
        """The (period, attempt) to charge today, or None. One at a time: a period in dunning
        holds later periods back until it is paid (a retry, "retry now", a new card)."""
        if self.status == "cancelled" or self.amount <= 0:
            return None
        if self.dunning_period is not None:
            if self.retry_now or self.card_changed(current_card):
                return self.dunning_period, self.dunning_attempt
            if self.status == "past_due" and self.next_retry and self.next_retry <= today:
                return self.dunning_period, self.dunning_attempt
            return None
        if self.status != "active":
            return None
        period = self.first_due
        if period is None or period > today:
            return None
        if (
            self.schedule.total_count is not None
            and self.periods_charged >= self.schedule.total_count
        ):
            return None
        if self.schedule.end is not None and period > self.schedule.end:
            return None
        return period, 0

    def wants(self, period: date, attempt: int) -> bool:
        """Whether the record as it is now asks for this attempt (ignoring today's date: a
        command emitted just before midnight is still good after it)."""
        if self.status == "cancelled" or self.amount <= 0:
            return False
        if attempt == 0 and self.dunning_period is None:
            return self.status == "active" and self.first_due == period
        return self.dunning_period == period and self.dunning_attempt == attempt


@dataclass(frozen=True)
class Outcome:
    fields: dict[str, Any]  # Salesforce update of the subscription
    task: bool = False  # first failure of a period: a Task for the account owner
    case: bool = False  # the last one: a Case
    recovered: bool = False
    suspended: bool = False


def paid(
    sub: Subscription, period: date, attempt: int, today: date, m: SubscriptionMapping
) -> Outcome:
    """A paid attempt: the schedule moves on. After a suspension billing resumes at the first
    date from today: the periods the service was suspended for are not billed."""
    f = m.fields
    following = sub.schedule.next_after(period)
    if sub.status == "suspended" and following is not None and following < today:
        following = sub.schedule.next_after(today - timedelta(days=1))
    return Outcome(
        fields={
            f.next_charge_date: following.isoformat() if following else None,
            f.periods_charged: sub.periods_charged + 1,
            f.status: m.statuses["active"],
            f.dunning_period: None,
            f.dunning_attempt: 0,
            f.next_retry_date: None,
            f.retry_now: False,
            f.declined_card: None,
        },
        recovered=attempt > 0 or sub.status in ("past_due", "suspended"),
    )


def failed(
    sub: Subscription,
    period: date,
    attempt: int,
    hard: bool,
    card: str | None,
    m: SubscriptionMapping,
) -> Outcome:
    """A declined (or refused) attempt: the next rung of the ladder, or suspension."""
    f = m.fields
    failures = attempt + 1
    last = hard or failures > len(m.dunning_days)
    retry = None if last else period + timedelta(days=m.dunning_days[failures - 1])
    status: SubscriptionStatus = "suspended" if last else "past_due"
    return Outcome(
        fields={
            f.next_charge_date: period.isoformat(),
            f.status: m.statuses[status],
            f.dunning_period: period.isoformat(),
            f.dunning_attempt: failures,
            f.next_retry_date: retry.isoformat() if retry else None,
            f.retry_now: False,
            f.declined_card: card,
        },
        task=attempt == 0,
        case=last and sub.status != "suspended",
        suspended=last and sub.status != "suspended",
    )
