"""The demo's recurring billing: three subscriptions walked through simulated months on a
stepped billing clock (a file the workers read, PAYSTREAM_CLOCK_FILE), with a soft decline
recovered by its retry ladder and a card that declines until the subscription is suspended and
its card is replaced. The report is read back from PayTrace and Salesforce, never from the
pipeline's counters."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connectors.paytrace.client import PayTraceClient
from connectors.salesforce.client import SalesforceClient

GOOD, OTHER_GOOD, DECLINES = "4111111111111111", "5454545454545454", "4000000000000002"
START = date(2027, 1, 1)
STEP_SECONDS = 60.0  # at most per checkpoint: a period waits on its predecessor's write-back


@dataclass
class SubscriptionsReport:
    periods_charged: int = 0
    retries: int = 0
    recovered: int = 0
    suspended: int = 0
    charged_twice: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.charged_twice

    def summary(self) -> dict[str, Any]:
        return {
            "subscription_periods_charged": self.periods_charged,
            "subscription_retries": self.retries,
            "subscription_recovered": self.recovered,
            "subscription_suspended": self.suspended,
            "subscription_periods_charged_twice": self.charged_twice,
            "subscription_problems": self.problems,
        }


class DemoSubscriptions:
    def __init__(self, workdir: Path, months: int) -> None:
        self.clock = workdir / "billing-clock"
        self.months = months
        self.ids: dict[str, str] = {}
        self.set_day(START - timedelta(days=1))

    def env(self) -> dict[str, str]:
        return {"PAYSTREAM_CLOCK_FILE": str(self.clock)}

    def set_day(self, day: date) -> None:
        part = self.clock.with_suffix(".tmp")
        part.write_text(f"{day.isoformat()}T18:00:00+00:00")  # noon in the merchant's Chicago
        part.replace(self.clock)

    async def records(self, salesforce: SalesforceClient) -> dict[str, dict[str, Any]]:
        return {n: await salesforce.get("Subscription__c", i) or {} for n, i in self.ids.items()}

    async def walk(self, salesforce: SalesforceClient, day: date) -> None:
        """Move the clock to ``day`` and wait until every subscription is billed through it."""
        self.set_day(day)
        deadline = time.monotonic() + STEP_SECONDS
        while time.monotonic() < deadline:
            if all(_settled(r, day) for r in (await self.records(salesforce)).values()):
                return
            await asyncio.sleep(0.3)
        raise TimeoutError(f"subscriptions not billed through {day} in {STEP_SECONDS:.0f} s")

    async def active(self, salesforce: SalesforceClient, name: str) -> None:
        deadline = time.monotonic() + STEP_SECONDS
        while time.monotonic() < deadline:
            record = await salesforce.get("Subscription__c", self.ids[name]) or {}
            if record.get("Status__c") == "Active":
                return
            await asyncio.sleep(0.3)
        raise TimeoutError(f"subscription {name} not Active again in {STEP_SECONDS:.0f} s")

    async def vault(self, paytrace: PayTraceClient, vault_id: str, card: str) -> None:
        await paytrace.update_customer(
            vault_id, card_number=card, expiration_month=12, expiration_year=START.year + 4
        )

    async def run(
        self, paytrace: PayTraceClient, salesforce: SalesforceClient
    ) -> SubscriptionsReport:
        for vault, card in (("SUB-MONTHLY", GOOD), ("SUB-QUARTERLY", DECLINES), ("SUB-TENS", GOOD)):
            await paytrace.create_customer(vault, card, 12, START.year + 4)
        account = await salesforce.create("Account", {"Name": "Demo Subscriber"})
        for name, vault, frequency, start, amount in (
            ("monthly", "SUB-MONTHLY", "Monthly", date(2027, 1, 31), 29.0),
            ("quarterly", "SUB-QUARTERLY", "Quarterly", date(2027, 1, 15), 240.0),
            ("tens", "SUB-TENS", "Every N Days", START, 9.0),
        ):
            fields = {
                "Account__c": account,
                "CustomerVaultID__c": vault,
                "Frequency__c": frequency,
                "StartDate__c": start.isoformat(),
                "Amount__c": amount,
                "IntervalDays__c": 10,
                "Status__c": "Active",
            }
            self.ids[name] = await salesforce.create("Subscription__c", fields)
        # Quarterly's card declines on every rung (1, 3, 7 days): suspended on 22 January;
        # a new card on 1 February is charged at once. Every 10 days: 11 January declines
        # once and its retry on 12 January pays.
        await self.walk(salesforce, date(2027, 1, 10))
        await self.vault(paytrace, "SUB-TENS", DECLINES)
        await self.walk(salesforce, date(2027, 1, 11))
        await self.vault(paytrace, "SUB-TENS", OTHER_GOOD)
        for day in (12, 15, 16, 18, 22, 31):
            await self.walk(salesforce, date(2027, 1, day))
        await self.vault(paytrace, "SUB-QUARTERLY", GOOD)
        await self.active(salesforce, "quarterly")  # the new card is tried at once
        await self.walk(salesforce, date(2027, 2, 1))
        for month in range(2, self.months + 1):  # then month by month, to each month's end
            following = date(START.year + month // 12, month % 12 + 1, 1)
            await self.walk(salesforce, following - timedelta(days=1))
        return await self.report(paytrace, salesforce)

    async def report(
        self, paytrace: PayTraceClient, salesforce: SalesforceClient
    ) -> SubscriptionsReport:
        today = date.today()  # PayTrace stamps real days, whatever the billing clock says
        found = await paytrace.export_by_date_range(
            today - timedelta(days=1), today + timedelta(days=1)
        )
        ours = set(self.ids.values())
        sales = [
            t
            for t in found
            if t.customer_reference_id in ours and str(t.transaction_type) == "SALE"
        ]
        approved = [t for t in sales if t.status == "APPROVED"]
        report = SubscriptionsReport(
            periods_charged=len(approved),
            retries=sum(":try" in t.description for t in sales),
            recovered=sum(":try" in t.description for t in approved),
            charged_twice=sum(n - 1 for n in Counter(t.invoice_id for t in approved).values()),
        )
        cases = await salesforce.query("SELECT Subject FROM Case")
        report.suspended = sum(
            str(c["Subject"]).startswith("Subscription suspended:") for c in cases
        )
        records = await self.records(salesforce)
        report.statuses = {name: str(r.get("Status__c")) for name, r in records.items()}
        report.problems = [f"{n} is {s}" for n, s in report.statuses.items() if s != "Active"]
        return report


def _settled(record: dict[str, Any], day: date) -> bool:
    """Nothing due through ``day``: the next charge (or retry) is later, or it is suspended."""
    status = record.get("Status__c")
    if status in ("Suspended", "Cancelled"):
        return True
    if status == "Past Due":
        retry = record.get("NextRetryDate__c")
        return retry is not None and retry > day.isoformat()
    following = record.get("NextChargeDate__c")
    if following is None and not record.get("PeriodsCharged__c"):
        following = record.get("StartDate__c")
    return following is None or following > day.isoformat()
