"""Recurring billing through the real scheduler and charge agent classes, without a broker:
a simulated year a day at a time, the scheduler's commands fed to the charge agent and every
Salesforce write fed back as the change event CDC would deliver."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents import subscription_charges, subscription_scheduler
from connectors.salesforce.ids import make_id
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState, SalesforceChange
from stream import metrics
from stream.billing.state import NotBillable, Subscription, period_key
from stream.mapping import load_mapping
from tests.unit.flow_fakes import (
    FakeConnectors,
    FakeSage,
    context,
    dead_letters,
    flow,
    incoming,
    sent,
)
from tests.unit.subscription_fakes import (
    FakeClock,
    FakePayTrace,
    FakeSalesforce,
)

START = date(2027, 1, 1)


class Billing:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sf, self.pt, self.sage = FakeSalesforce(), FakePayTrace(), FakeSage()
        connectors = FakeConnectors(
            paytrace_client=self.pt, salesforce_client=self.sf, sagepro_client=self.sage
        )
        self.ctx = context(connectors)
        self.scheduler = flow("subscription_scheduler", self.ctx)
        self.agent = flow("charge_agent", self.ctx)
        self.agent._paytrace = self.pt
        self.clock = FakeClock(START)
        self.scheduler.clock = self.clock
        monkeypatch.setattr(subscription_charges, "CLOCK", self.clock)
        monkeypatch.setattr(subscription_scheduler, "CARD_CHECK_SECONDS", 0.0)
        monkeypatch.setattr(subscription_scheduler, "RESEND_SECONDS", 0.0)
        self.changes_read = 0
        self.commands_read = 0
        self.offset = 0

    async def settle(self) -> None:
        """Until quiet: changes to the scheduler, commands to the charge agent."""
        for _ in range(100):
            changes = self.sf.changes[self.changes_read :]
            self.changes_read = len(self.sf.changes)
            for change in changes:
                self.offset += 1
                await self.scheduler.handle(
                    [incoming(change, key=change.record_ids[0], offset=self.offset)]
                )
            commands = sent(self.ctx, "charge_commands")[self.commands_read :]
            self.commands_read += len(commands)
            for command in commands:
                self.offset += 1
                await self.agent.handle(
                    [incoming(command.value, key=command.key, offset=self.offset)]
                )
            if not changes and not commands:
                return
        raise AssertionError("billing never settled")

    async def run_until(self, last: date, events: dict[date, Any] | None = None) -> None:
        day = self.clock.day
        while day <= last:
            self.clock.day = day
            for action in (events or {}).get(day, []):
                action()
            await self.settle()
            await self.scheduler.tick()
            await self.settle()
            day += timedelta(days=1)

    def ledger(self) -> dict[str, LedgerState]:
        table: Any = self.ctx.app.tables["charge-ledger"]
        return {k.decode(): LedgerEntry.model_validate_json(v).state for k, v in table.items()}


def subscription(
    frequency: str, start: date, amount: str = "50.00", **extra: Any
) -> dict[str, Any]:
    return {
        "Frequency__c": frequency,
        "StartDate__c": start.isoformat(),
        "Amount__c": amount,
        "CustomerVaultID__c": f"vault-{frequency.replace(' ', '')}",
        **extra,
    }


async def test_a_year_of_three_subscriptions_with_declines_and_card_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    monthly = b.sf.add_subscription(**subscription("Monthly", date(2027, 1, 31)))
    quarterly = b.sf.add_subscription(**subscription("Quarterly", date(2027, 1, 15), "300.00"))
    tens = b.sf.add_subscription(**subscription("Every N Days", START, "20.00", IntervalDays__c=10))
    # Monthly: the March period declines twice, then its second retry (3 days later) pays.
    b.pt.decline_keys |= {
        period_key(monthly, date(2027, 3, 31)),
        period_key(monthly, date(2027, 3, 31), 1),
    }
    # Every 10 days: the 10 June period declines on every rung of the ladder -> Suspended.
    june = date(2027, 6, 10)
    b.pt.decline_keys |= {period_key(tens, june, n) for n in range(4)}
    events = {
        # Quarterly: the card is reported stolen before July's period (a hard decline) and
        # replaced in the vault on 1 August, which is worth an attempt at once. Every 10
        # days: the account manager asks for a retry on 1 July.
        date(2027, 7, 1): [
            lambda: b.pt.cards.update({"vault-Quarterly": "stolen"}),
            lambda: b.sf.edit(tens, RetryNow__c=True),
        ],
        date(2027, 8, 1): [lambda: b.pt.cards.update({"vault-Quarterly": "good"})],
    }
    await b.run_until(date(2027, 12, 31), events)

    def paid(rid: str) -> list[str]:
        return sorted(s["invoice_id"][-8:] for s in b.pt.charged(rid) if s["status"] == "APPROVED")

    # Monthly on the 31st: the last day of short months, all twelve paid, March on 3 April.
    assert paid(monthly) == [
        "20270131", "20270228", "20270331", "20270430", "20270531", "20270630",
        "20270731", "20270831", "20270930", "20271031", "20271130", "20271231",
    ]  # fmt: skip
    monthly_sales = b.pt.charged(monthly)
    assert [s["key"] for s in monthly_sales if s["status"] == "DECLINED"] == [
        period_key(monthly, date(2027, 3, 31)),
        period_key(monthly, date(2027, 3, 31), 1),
    ]
    # Quarterly: July declines hard (no retries), is paid on 1 August after the card update.
    assert paid(quarterly) == ["20270115", "20270415", "20270715", "20271015"]
    assert [s["key"] for s in b.pt.charged(quarterly) if s["status"] == "DECLINED"] == [
        period_key(quarterly, date(2027, 7, 15))
    ]
    # Every 10 days: 10 June fails four times (suspended); the 1 July retry pays it, and the
    # periods of the suspension (20 and 30 June) are not billed.
    tens_paid = paid(tens)
    assert "20270610" in tens_paid and "20270620" not in tens_paid and "20270630" not in tens_paid
    expected = [START + timedelta(days=10 * k) for k in range(37)]
    expected = [d for d in expected if d not in (date(2027, 6, 20), date(2027, 6, 30))]
    assert tens_paid == [d.strftime("%Y%m%d") for d in expected]
    assert len([s for s in b.pt.charged(tens) if s["status"] == "DECLINED"]) == 4

    # No period charged twice, across everything.
    approved = Counter(s["invoice_id"] for s in b.pt.sales if s["status"] == "APPROVED")
    assert max(approved.values()) == 1
    # Tasks on each failing period's first failure, Cases on the last one only.
    assert sorted(b.sf.subjects("Task")) == sorted(
        f"Subscription payment failed: sub:{rid}:{day.isoformat()}"
        for rid, day in (
            (monthly, date(2027, 3, 31)),
            (quarterly, date(2027, 7, 15)),
            (tens, june),
        )
    )
    assert sorted(b.sf.subjects("Case")) == sorted(
        f"Subscription suspended: sub:{rid}:{day.isoformat()}"
        for rid, day in ((quarterly, date(2027, 7, 15)), (tens, june))
    )
    # Every subscription ends the year Active, its next date in 2028; a Sage Pro invoice per
    # billed period, under the reference PayTrace carried.
    for rid in (monthly, quarterly, tens):
        assert b.sf.records[rid]["Status__c"] == "Active"
        assert b.sf.records[rid]["NextChargeDate__c"] > "2027-12-31"
    assert len(b.sage.invoices) == 12 + 4 + len(expected)
    assert set(b.sage.invoices) == {s["invoice_id"] for s in b.pt.sales}
    assert dead_letters(b.ctx) == []


async def test_statuses_through_the_ladder(monkeypatch: pytest.MonkeyPatch) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START))
    b.pt.cards["vault-Monthly"] = "declines"
    seen: dict[date, tuple[str, Any]] = {}
    for day in (START, date(2027, 1, 2), date(2027, 1, 4), date(2027, 1, 8)):
        await b.run_until(day)
        record = b.sf.records[rid]
        seen[day] = (record["Status__c"], record.get("NextRetryDate__c"))
    assert seen == {
        START: ("Past Due", "2027-01-02"),
        date(2027, 1, 2): ("Past Due", "2027-01-04"),
        date(2027, 1, 4): ("Past Due", "2027-01-08"),
        date(2027, 1, 8): ("Suspended", None),
    }
    # Suspended: February is not attempted while the card stays bad.
    await b.run_until(date(2027, 2, 15))
    assert len(b.pt.sales) == 4
    b.pt.cards["vault-Monthly"] = "good"
    await b.run_until(date(2027, 2, 16))
    record = b.sf.records[rid]
    assert record["Status__c"] == "Active"
    assert record["NextChargeDate__c"] == "2027-03-01"  # resumes from today, not January
    assert [s["status"] for s in b.pt.sales][-1] == "APPROVED"


async def test_a_change_mid_period_applies_from_the_next_period_and_cancel_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START, "40.00"))
    await b.run_until(date(2027, 1, 20))
    b.sf.edit(rid, Amount__c="45.00", Frequency__c="Weekly")
    await b.run_until(date(2027, 2, 12))
    # The next date (1 February) was set under the monthly schedule and is kept; after it
    # the weekly grid from the start date: 5 February, 12 February.
    assert [(s["invoice_id"][-8:], str(s["amount"])) for s in b.pt.sales] == [
        ("20270101", "40.00"),
        ("20270201", "45.00"),
        ("20270205", "45.00"),
        ("20270212", "45.00"),
    ]
    b.sf.edit(rid, Status__c="Cancelled")
    await b.run_until(date(2027, 4, 1))
    assert len(b.pt.sales) == 4
    # A command that comes late (a replay from before the cancellation) charges nothing.
    late = ChargeCommand(
        key=period_key(rid, date(2027, 2, 19)),
        object="Subscription",
        record_id=rid,
        trigger="subscription",
        requested_at=datetime.now(UTC),
    )
    await b.agent.handle([incoming(late, key=late.key, offset=10_000)])
    assert len(b.pt.sales) == 4
    assert dead_letters(b.ctx) == []


async def test_a_lost_answer_is_found_in_the_export_and_never_charged_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START))
    b.pt.lose_answers = 1
    await b.run_until(START)
    # The sale was made and its answer lost: the key stayed PENDING, and the runtime's retry
    # found the sale in the export instead of selling again.
    assert len(b.pt.sales) == 1
    assert b.ledger()[period_key(rid, START)] is LedgerState.DONE
    # A command sent again (a replay, the scheduler's resend) is a duplicate.
    command = sent(b.ctx, "charge_commands")[0]
    await b.agent.handle([incoming(command.value, key=command.key, offset=99_999)])
    await b.run_until(date(2027, 1, 3))
    assert len(b.pt.sales) == 1
    assert b.ledger()[period_key(rid, START)] is LedgerState.DONE
    assert b.sf.records[rid]["NextChargeDate__c"] == "2027-02-01"


async def test_a_forged_or_malformed_key_is_dead_lettered_without_a_sale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START))
    for key in (f"sub:{rid}:2027-1-01", f"sub:{rid}:2027-01-01:try0", "sub:nonsense:2027-01-01"):
        value = ChargeCommand(
            key=key,
            object="Subscription",
            record_id=rid,
            trigger="subscription",
            requested_at=datetime.now(UTC),
        )
        await b.agent.handle([incoming(value, key=key)])
    assert b.pt.sales == []
    assert [d.reason for d in dead_letters(b.ctx)] == ["charge_refused:malformed_key"] * 3


async def test_bad_subscription_records_never_stop_the_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    b.sf.add_subscription(Frequency__c="Fortnightly", StartDate__c="2027-01-01", Amount__c="5")
    b.sf.add_subscription(Frequency__c="Monthly", StartDate__c="not a date", Amount__c="5")
    good = b.sf.add_subscription(**subscription("Monthly", START))
    await b.run_until(START)
    assert [s["customer_reference_id"] for s in b.pt.sales] == [good]


async def test_change_event_dates_are_days_since_the_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    b = Billing(monkeypatch)
    days = (START - date(1970, 1, 1)).days
    rid = b.sf.add_subscription(**subscription("Monthly", START))
    b.sf.changes[-1].values["StartDate__c"] = days  # as the Pub/Sub API encodes a Date
    await b.run_until(START)
    assert [s["customer_reference_id"] for s in b.pt.sales] == [rid]


field_values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["Monthly", "Every N Days", "Active", "9999-12-31", "0001-01-01", "31"]),
)
FIELDS = [
    "Frequency__c", "StartDate__c", "AnchorDay__c", "IntervalDays__c", "EndDate__c",
    "TotalCount__c", "Amount__c", "Status__c", "NextChargeDate__c", "PeriodsCharged__c",
    "DunningPeriod__c", "DunningAttempt__c", "NextRetryDate__c", "RetryNow__c",
]  # fmt: skip


@given(st.dictionaries(st.sampled_from(FIELDS), field_values), st.dates())
def test_any_record_is_billable_or_says_why(record: dict[str, Any], today: date) -> None:
    mapping = load_mapping().subscriptions
    try:
        sub = Subscription.from_record(make_id("a0U", 1), record, mapping)
    except NotBillable:
        return
    found = sub.safe_due(today)
    if found is not None:
        period, attempt = found
        assert sub.wants(period, attempt)


async def test_a_retry_charges_what_the_period_invoiced(monkeypatch: pytest.MonkeyPatch) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START, "50.00"))
    b.pt.cards["vault-Monthly"] = "declines"
    await b.run_until(START)
    b.sf.edit(rid, Amount__c="60.00")  # while January is in dunning
    b.pt.cards["vault-Monthly"] = "good"
    await b.run_until(date(2027, 2, 1))
    assert [(s["invoice_id"][-8:], s["status"], str(s["amount"])) for s in b.pt.sales] == [
        ("20270101", "DECLINED", "50.00"),
        ("20270101", "APPROVED", "50.00"),  # January's invoice said 50.00
        ("20270201", "APPROVED", "60.00"),
    ]
    assert str(b.sage.invoices[f"{rid}-20270201"].total_amount) == "60.00"


async def test_a_resync_row_replaces_the_state_and_a_failed_tick_is_survived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    rid = b.sf.add_subscription(**subscription("Monthly", START, RetryNow__c=True))
    await b.settle()
    # A resync (no nulled-field list): the record now has no retry flag and a new amount.
    row = {k: v for k, v in b.sf.records[rid].items() if k != "RetryNow__c"}
    resync = SalesforceChange(
        source="resync",
        topic="/data/Subscription__ChangeEvent",
        entity="Subscription__c",
        change_type="RESYNC",
        record_ids=[rid],
        values={**row, "Amount__c": "70.00"},
    )
    await b.scheduler.handle([incoming(resync, key=rid, offset=50_000)])
    held = orjson.loads(b.scheduler.state[rid.encode()])
    assert "RetryNow__c" not in held and held["Amount__c"] == "70.00"

    async def refuse(**_: Any) -> None:
        raise RuntimeError("broker gone")

    monkeypatch.setattr(b.ctx.topics["charge_commands"], "send", refuse)
    b.clock.day = date(2027, 2, 1)  # February is due: the tick tries to send it
    failed = metrics.EVENTS_FAILED.labels("subscription_scheduler")
    before = failed._value.get()
    await b.scheduler.tick()  # logged and counted, not raised
    assert failed._value.get() == before + 1
