"""Recurring billing end to end on the real broker: subscriptions in the Salesforce emulator
(CDC over gRPC), the scheduler and charge agent in real `paystream worker` processes, sales in
the PayTrace emulator, invoices and payments in Sage Pro. A stepped billing clock (a file every
worker reads, PAYSTREAM_CLOCK_FILE) walks a year in checkpoints; at each one the test waits
until Salesforce says every subscription is billed up to that day. Two workers are SIGKILLed
on the way, each time with another taking over."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Pipeline, wait_for
from tests.integration.kafka_groups import evict_group_members

pytestmark = pytest.mark.integration

GOOD_CARD = "4111111111111111"
OTHER_GOOD_CARD = "5454545454545454"
SOFT_DECLINE_CARD = "4000000000000002"  # "Do not honor"
STOLEN_CARD = "4000000000009979"  # "Pick up card": a hard decline
YEAR_END = date(2027, 12, 31)


class Year:
    def __init__(self, pipeline: Pipeline, clock: Path) -> None:
        self.pipeline = pipeline
        self.clock = clock
        self.ids: dict[str, str] = {}

    def set_day(self, day: date) -> None:
        # Noon in the merchant's Chicago; written whole, then renamed (never half a stamp).
        part = self.clock.with_suffix(".tmp")
        part.write_text(f"{day.isoformat()}T18:00:00+00:00")
        part.replace(self.clock)

    async def records(self) -> dict[str, dict[str, Any]]:
        async with self.pipeline.salesforce() as salesforce:
            return {
                name: await salesforce.get("Subscription__c", rid) or {}
                for name, rid in self.ids.items()
            }

    async def billed_through(self, day: date) -> None:
        """Until every live subscription's next charge and next retry are after ``day``."""

        async def settled() -> bool:
            for record in (await self.records()).values():
                if record.get("Status__c") in ("Suspended", "Cancelled"):
                    continue
                retry = record.get("NextRetryDate__c")
                if record.get("Status__c") == "Past Due":  # its next charge is the unpaid one
                    if retry is None or retry <= day.isoformat():
                        return False
                    continue
                following = record.get("NextChargeDate__c")
                if following is None and not record.get("PeriodsCharged__c"):
                    following = record.get("StartDate__c")  # its first charge is on or after
                if following is not None and following <= day.isoformat():
                    return False
            return True

        await wait_for(settled, f"every subscription billed through {day}", 90, every=0.3)

    async def walk(self, days: list[date]) -> None:
        for day in days:
            self.set_day(day)
            await self.billed_through(day)

    async def status(self, name: str, wanted: str) -> None:
        async def reached() -> bool:
            return (await self.records())[name].get("Status__c") == wanted

        await wait_for(reached, f"{name} {wanted}", 90, every=0.3)

    async def vault(self, vault_id: str, card: str) -> None:
        async with self.pipeline.paytrace() as paytrace:
            await paytrace.update_customer(
                vault_id, card_number=card, expiration_month=12, expiration_year=2031
            )


async def sales(pipeline: Pipeline) -> list[Any]:
    today = date.today()
    async with pipeline.paytrace() as paytrace:
        found = await paytrace.export_by_date_range(
            today - timedelta(days=1), today + timedelta(days=1)
        )
    return [t for t in found if str(t.transaction_type) == "SALE"]


async def subjects(pipeline: Pipeline, obj: str) -> list[str]:
    async with pipeline.salesforce() as salesforce:
        rows = await salesforce.query(f"SELECT Subject FROM {obj}")
    # Other flows open Cases too (risk reviews): only ours are counted.
    return sorted(str(r["Subject"]) for r in rows if str(r["Subject"]).startswith("Subscription"))


def month_ends() -> list[date]:
    return [date(2027, m + 1, 1) - timedelta(days=1) for m in range(1, 12)] + [YEAR_END]


async def test_a_year_of_subscriptions_with_declines_card_updates_changes_and_two_kills(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    clock = tmp_path / "billing-clock"
    year = Year(pipeline, clock)
    year.set_day(date(2026, 12, 31))
    pipeline.extra_env.update(
        {
            "PAYSTREAM_CDC_START": "earliest",
            "PAYSTREAM_CLOCK_FILE": str(clock),
            # A period's charge waits on the previous one's write-back coming back by CDC:
            # short batch windows keep the year's ~60 sequential round trips quick.
            "PAYSTREAM_SINK_BATCH_SECONDS": "0.1",
        }
    )
    first = pipeline.start_worker()

    async with pipeline.paytrace() as paytrace:
        for vault in ("VAULT-M", "VAULT-Q", "VAULT-T", "VAULT-C"):
            await paytrace.create_customer(vault, GOOD_CARD, 12, 2031)
    async with pipeline.salesforce() as salesforce:
        account = await salesforce.create("Account", {"Name": "Subscriber"})

        async def subscribe(
            name: str, vault: str, frequency: str, start: date, amount: str, **extra: Any
        ) -> None:
            fields = {
                "Account__c": account,
                "CustomerVaultID__c": vault,
                "Frequency__c": frequency,
                "StartDate__c": start.isoformat(),
                "Amount__c": float(amount),
                "Status__c": "Active",
                **extra,
            }
            year.ids[name] = await salesforce.create("Subscription__c", fields)

        await subscribe("monthly", "VAULT-M", "Monthly", date(2027, 1, 31), "31.00")
        await subscribe("quarterly", "VAULT-Q", "Quarterly", date(2027, 1, 15), "300.00")
        await subscribe(
            "tens", "VAULT-T", "Every N Days", date(2027, 1, 1), "10.00", IntervalDays__c=10
        )
        # Changed mid-period (amount and frequency), then cancelled.
        await subscribe("changed", "VAULT-C", "Monthly", date(2027, 1, 5), "40.00")

    # January to March 30: everything pays.
    await year.walk([date(2027, 1, 20)])
    async with pipeline.salesforce() as salesforce:
        await salesforce.update(
            "Subscription__c", year.ids["changed"], {"Amount__c": 45.0, "Frequency__c": "Weekly"}
        )
    await year.walk([date(2027, 1, 31), date(2027, 2, 19)])
    async with pipeline.salesforce() as salesforce:
        await salesforce.update("Subscription__c", year.ids["changed"], {"Status__c": "Cancelled"})
    await year.walk([date(2027, 2, 28), date(2027, 3, 30)])

    # Monthly: March's period declines and its first retry too; the card is then replaced
    # in the vault, which is attempted at once (before the 3 April rung).
    await year.vault("VAULT-M", SOFT_DECLINE_CARD)
    await year.walk([date(2027, 3, 31), date(2027, 4, 1)])
    await year.vault("VAULT-M", OTHER_GOOD_CARD)
    await year.status("monthly", "Active")

    # A second worker joins; the first is SIGKILLed and the second takes over. (One run that
    # started a worker right after an eviction left the embedded broker's group rebalancing.)
    second = pipeline.start_worker()
    await year.walk([date(2027, 4, 30)])
    first.kill()
    await evict_group_members(pipeline.bootstrap, pipeline.name)
    await year.walk([date(2027, 5, 31), date(2027, 6, 9)])

    # Every 10 days: 10 June declines on every rung (1, 3, 7 days) -> Suspended.
    await year.vault("VAULT-T", SOFT_DECLINE_CARD)
    await year.walk([date(2027, 6, 10), date(2027, 6, 11), date(2027, 6, 13), date(2027, 6, 17)])
    await year.status("tens", "Suspended")
    await year.walk([date(2027, 6, 30)])  # suspended: 20 and 30 June are not attempted
    # Quarterly: the card is reported stolen; July's period is a hard decline: no retries.
    await year.vault("VAULT-Q", STOLEN_CARD)
    await year.walk([date(2027, 7, 1)])
    # The account manager fixes the card and asks for a retry now on 1 July.
    await year.vault("VAULT-T", GOOD_CARD)
    async with pipeline.salesforce() as salesforce:
        await salesforce.update("Subscription__c", year.ids["tens"], {"RetryNow__c": True})
    await year.status("tens", "Active")

    # The first worker's successor is killed too; a third takes over.
    third = pipeline.start_worker()
    await year.walk([date(2027, 7, 15)])
    await year.status("quarterly", "Suspended")
    second.kill()
    await evict_group_members(pipeline.bootstrap, pipeline.name)
    await year.walk([date(2027, 7, 31)])
    await year.vault("VAULT-Q", GOOD_CARD)  # a new card: paid at once, Active again
    await year.status("quarterly", "Active")
    await year.walk(
        [date(2027, 8, 31), date(2027, 9, 30), date(2027, 10, 31), date(2027, 11, 30), YEAR_END]
    )
    assert third.running()

    found = await sales(pipeline)
    by_sub: dict[str, list[Any]] = {name: [] for name in year.ids}
    names = {rid: name for name, rid in year.ids.items()}
    for sale in found:
        by_sub[names[sale.customer_reference_id]].append(sale)

    def periods(name: str, status: str) -> list[str]:
        return sorted(s.invoice_id[-8:] for s in by_sub[name] if s.status == status)

    # Everything PayTrace holds, to read when an assertion below fails.
    print({n: [(s.invoice_id[-8:], s.status, s.description) for s in v] for n, v in by_sub.items()})

    assert periods("monthly", "APPROVED") == [
        "20270131", "20270228", "20270331", "20270430", "20270531", "20270630",
        "20270731", "20270831", "20270930", "20271031", "20271130", "20271231",
    ]  # fmt: skip
    assert periods("monthly", "DECLINED") == ["20270331", "20270331"]
    assert periods("quarterly", "APPROVED") == ["20270115", "20270415", "20270715", "20271015"]
    assert periods("quarterly", "DECLINED") == ["20270715"]
    tens = [date(2027, 1, 1) + timedelta(days=10 * k) for k in range(37)]
    tens = [d for d in tens if d not in (date(2027, 6, 20), date(2027, 6, 30))]
    assert periods("tens", "APPROVED") == [d.strftime("%Y%m%d") for d in tens]
    assert periods("tens", "DECLINED") == ["20270610"] * 4
    # Changed on 20 January: 5 January at 40.00; 5 February (the date set before the change)
    # and then the weekly grid from its start (a Tuesday), 9 and 16 February, at 45.00;
    # cancelled on 19 February, never charged again.
    assert sorted((s.invoice_id[-8:], Decimal(s.amount)) for s in by_sub["changed"]) == [
        ("20270105", Decimal("40.00")),
        ("20270205", Decimal("45.00")),
        ("20270209", Decimal("45.00")),
        ("20270216", Decimal("45.00")),
    ]
    approved = Counter(s.invoice_id for s in found if s.status == "APPROVED")
    assert max(approved.values()) == 1, "a period was charged twice"

    ids = year.ids
    assert await subjects(pipeline, "Task") == sorted(
        [
            f"Subscription payment failed: sub:{ids['monthly']}:2027-03-31",
            f"Subscription payment failed: sub:{ids['tens']}:2027-06-10",
            f"Subscription payment failed: sub:{ids['quarterly']}:2027-07-15",
        ]
    )
    assert await subjects(pipeline, "Case") == sorted(
        [
            f"Subscription suspended: sub:{ids['tens']}:2027-06-10",
            f"Subscription suspended: sub:{ids['quarterly']}:2027-07-15",
        ]
    )
    records = await year.records()
    assert {name: r["Status__c"] for name, r in records.items()} == {
        "monthly": "Active",
        "quarterly": "Active",
        "tens": "Active",
        "changed": "Cancelled",
    }

    # Every approved sale reaches Payment__c linked to its subscription, and Sage Pro holds the
    # period's invoice with the payment applied.
    approved_ids = {str(s.transaction_id): s for s in found if s.status == "APPROVED"}

    async def synced() -> bool:
        linked = {
            r["PaymentID__c"]: r.get("Subscription__c") for r in await pipeline.payment_records()
        }
        return all(linked.get(t) == s.customer_reference_id for t, s in approved_ids.items())

    await wait_for(synced, "every approved sale in Payment__c, linked to its subscription", 120)

    async def invoices_paid() -> bool:
        async with pipeline.sagepro() as sage:
            for sale in approved_ids.values():
                invoice = await sage.get_invoice(sale.invoice_id)
                if invoice is None or str(invoice.status) != "Paid":
                    return False
        return True

    await wait_for(invoices_paid, "every period's Sage Pro invoice paid", 180, every=2)
    assert not await pipeline.dead_letters()
