"""Reference data the demo's transactions point at: Salesforce and Sage Pro records, and
PayTrace vault customers (whose ids are also the Sage Pro customer ids)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

from connectors.paytrace.client import PayTraceClient
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.models import Customer, Invoice
from connectors.salesforce.client import SalesforceClient

T = TypeVar("T")
DECLINE_CARD = "4000000000000002"  # the PayTrace emulator declines every charge on it
NO_VAULT_ACCOUNT = 0  # this Account has no PayTrace vault id: "payment method required"
DECLINING_ACCOUNT = 1  # this Account's vaulted card declines
TEST_CARDS = ("4111111111111111", "5454545454545454", "371449635392376", "6011000993026909")


@dataclass
class SeedData:
    customers: list[str] = field(default_factory=list)  # vault ids == Sage CustomerIDs
    accounts: list[str] = field(default_factory=list)
    opportunities: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    opportunity_accounts: dict[str, str] = field(default_factory=dict)
    order_accounts: dict[str, str] = field(default_factory=dict)
    invoices: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # id -> customer, total


async def gather_limited(coros: Iterable[Awaitable[T]], limit: int = 16) -> list[T]:
    """Like gather, with at most ``limit`` calls in flight (the emulators are one process)."""
    gate = asyncio.Semaphore(limit)

    async def run(coro: Awaitable[T]) -> T:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(run(c) for c in coros)))


def account_fields(index: int, vault_id: str) -> dict[str, str]:
    fields = {"Name": f"Demo account {vault_id}"}
    if index != NO_VAULT_ACCOUNT:
        fields["CustomerVaultID__c"] = vault_id
    return fields


def _amount(rng: random.Random) -> Decimal:
    return Decimal(f"{rng.randint(50, 5000)}.{rng.choice([0, 25, 50, 99]):02d}")


async def seed(
    paytrace: PayTraceClient,
    salesforce: SalesforceClient,
    sage: SageProRestClient,
    *,
    customers: int,
    invoice_amounts: list[Decimal],
    rng: random.Random,
) -> SeedData:
    data = SeedData()
    today = date.today()
    for index in range(customers):
        data.customers.append(f"CUST-{index + 1:04d}")
    await gather_limited(
        [
            sage.create_customer(Customer(customer_id=cid, name=f"Demo customer {cid}"))
            for cid in data.customers
        ]
    )
    await gather_limited(
        [
            paytrace.create_customer(
                cid,
                DECLINE_CARD if index == DECLINING_ACCOUNT else rng.choice(TEST_CARDS),
                12,
                today.year + 3,
                billing_address={"name": f"Demo {cid}", "zip": "98101"},
            )
            for index, cid in enumerate(data.customers)
        ]
    )
    data.accounts = await gather_limited(
        [
            salesforce.create("Account", account_fields(index, cid))
            for index, cid in enumerate(data.customers)
        ]
    )
    close = (today + timedelta(days=30)).isoformat()
    data.opportunities = await gather_limited(
        [
            salesforce.create(
                "Opportunity",
                {
                    "Name": f"Demo deal {i + 1}",
                    "AccountId": account,
                    "StageName": "Negotiation/Review",
                    "CloseDate": close,
                    "Amount": float(_amount(rng)),
                },
            )
            for i, account in enumerate(data.accounts * 2)
        ]
    )
    data.opportunity_accounts = dict(zip(data.opportunities, data.accounts * 2, strict=True))
    data.orders = await gather_limited(
        [
            salesforce.create(
                "Order",
                {
                    "AccountId": account,
                    "EffectiveDate": today.isoformat(),
                    "Status": "Draft",
                    "Amount__c": str(_amount(rng)),
                },
            )
            for account in data.accounts
        ]
    )
    data.order_accounts = dict(zip(data.orders, data.accounts, strict=True))
    invoices = []
    for index, amount in enumerate(invoice_amounts):
        customer = data.customers[index % len(data.customers)]
        invoice_id = f"INV-{index + 1:06d}"
        data.invoices[invoice_id] = (customer, amount)
        invoices.append(
            Invoice(
                invoice_id=invoice_id,
                customer_id=customer,
                invoice_date=today,
                total_amount=amount,
            )
        )
    await gather_limited([sage.create_invoice(invoice) for invoice in invoices])
    return data
