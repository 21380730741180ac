"""A merchant's day, driven through the PayTrace API: sales, declines, auth + capture,
full and partial refunds, voids, and a few sales naming invoices Sage Pro does not have.

As on the real gateway, what is cancelled before settlement is voided, and refunds come after
the batch settled (PayTrace refuses a refund of an unsettled sale with error 817): ``drive``
sends everything but the refunds, ``drive_refunds`` sends those once the runner settled."""

from __future__ import annotations

import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import TransactionResult
from stream.demo.seed import TEST_CARDS, SeedData, gather_limited

# Share of the events each kind gets (follow-ups act on earlier transactions).
MIX = {
    "decline": 0.07,
    "unknown_invoice": 0.03,
    "auth_only": 0.03,
    "auth_capture": 0.08,  # two events each: authorize, capture
    "refund_full": 0.06,
    "refund_partial": 0.04,
    "void": 0.05,
}


@dataclass
class Primary:
    kind: str  # sale | sale_by_customer | decline | unknown_invoice | auth
    amount: Decimal
    invoice_id: str
    reference: str  # Salesforce Opportunity or Order id
    customer: str
    rep: str
    campaign: str


@dataclass
class Plan:
    primaries: list[Primary] = field(default_factory=list)
    captures: int = 0
    refunds_full: int = 0
    refunds_partial: int = 0
    voids: int = 0

    @property
    def events(self) -> int:
        follow_ups = self.captures + self.refunds_full + self.refunds_partial + self.voids
        return len(self.primaries) + follow_ups

    def invoice_amounts(self) -> list[Decimal]:
        return [p.amount for p in self.primaries if p.kind != "unknown_invoice"]


def _amount(rng: random.Random, cents: int | None = None) -> Decimal:
    dollars = rng.randint(10, 900)
    if cents is None:
        cents = rng.choice([c for c in range(100) if c not in (2, 3)])
    return Decimal(f"{dollars}.{cents:02d}")


def make_plan(events: int, rng: random.Random) -> Plan:
    """Counts per kind from ``MIX``; sales fill the rest, so ``plan.events == events``."""
    n = {kind: int(events * share) for kind, share in MIX.items()}
    plan = Plan(
        captures=n["auth_capture"],
        refunds_full=n["refund_full"],
        refunds_partial=n["refund_partial"],
        voids=n["void"],
    )
    follow_ups = plan.captures + plan.refunds_full + plan.refunds_partial + plan.voids
    auths = n["auth_capture"] + n["auth_only"]
    sales = events - follow_ups - auths - n["decline"] - n["unknown_invoice"]
    # Refunds and voids need approved sales to act on.
    sales = max(sales, plan.refunds_full + plan.refunds_partial + plan.voids)
    kinds = (
        ["sale"] * sales
        + ["decline"] * n["decline"]
        + ["unknown_invoice"] * n["unknown_invoice"]
        + ["auth"] * auths
    )
    for index, kind in enumerate(kinds):
        by_customer = kind == "sale" and index % 3 == 0
        plan.primaries.append(
            Primary(
                kind="sale_by_customer" if by_customer else kind,
                amount=_amount(rng, 2 if kind == "decline" else None),
                invoice_id="",  # assigned once invoices exist
                reference="",
                customer="",
                rep=f"R{rng.randint(1, 12):02d}",
                campaign=rng.choice(["Spring", "Webinar", "Partner", "Direct"]),
            )
        )
    return plan


def assign_references(plan: Plan, seed: SeedData, rng: random.Random) -> None:
    invoice_ids = iter(seed.invoices)
    for index, primary in enumerate(plan.primaries):
        if primary.kind == "unknown_invoice":
            primary.invoice_id = f"INV-UNKNOWN-{index:05d}"
            primary.customer = rng.choice(seed.customers)
        else:
            primary.invoice_id = next(invoice_ids)
            primary.customer = seed.invoices[primary.invoice_id][0]
        pool = seed.orders if primary.kind == "sale_by_customer" else seed.opportunities
        primary.reference = rng.choice(pool)


def _id(result: TransactionResult) -> int:
    if result.transaction_id is None:
        raise ValueError("an approved transaction without a transaction_id")
    return result.transaction_id


@dataclass
class Driven:
    results: list[TransactionResult]  # every gateway answer so far, approved or not
    refunds: list[tuple[int, Decimal | None]]  # sale id, amount (None = in full), for later


def _shopper(p: Primary) -> dict[str, str]:
    """A keyed sale's billing name and zip: one shopper each, as at a real merchant. Without
    them the demo's few test cards would look like a handful of customers paying hundreds of
    times a minute to the risk scorer (agents/risk_scorer.py keys a customer by them)."""
    digest = zlib.crc32(p.invoice_id.encode())
    return {"name": f"Shopper {digest:08x}", "zip": f"{10000 + digest % 89000:05d}"}


async def drive(
    client: PayTraceClient,
    plan: Plan,
    rng: random.Random,
    on_event: Callable[[], None] = lambda: None,
) -> Driven:
    """Send every event but the refunds, which need the sales settled first."""

    async def primary(p: Primary) -> tuple[Primary, TransactionResult]:
        extra: dict[str, Any] = {
            "invoice_id": p.invoice_id,
            "customer_reference_id": p.reference,
            "description": f"rep={p.rep};campaign={p.campaign}",
        }
        if p.kind == "sale_by_customer":
            result = await client.sale_by_customer(
                p.customer,
                p.amount,
                p.invoice_id,
                customer_reference_id=p.reference,
                description=extra["description"],
            )
        elif p.kind == "auth":
            result = await client.authorize_keyed(
                p.amount, rng.choice(TEST_CARDS), 12, 2030, billing_address=_shopper(p), **extra
            )
        else:
            result = await client.sale_keyed(
                p.amount, rng.choice(TEST_CARDS), 12, 2030, billing_address=_shopper(p), **extra
            )
        on_event()
        return p, result

    done = await gather_limited(primary(p) for p in plan.primaries)
    results = [result for _, result in done]
    approved_sales = [
        (p, r) for p, r in done if p.kind in ("sale", "sale_by_customer") and r.approved
    ]
    auths = [(p, r) for p, r in done if p.kind == "auth" and r.approved]
    rng.shuffle(approved_sales)
    cursor = 0

    def take(count: int) -> list[tuple[Primary, TransactionResult]]:
        nonlocal cursor
        chosen = approved_sales[cursor : cursor + count]
        cursor += count
        return chosen

    refunds: list[tuple[int, Decimal | None]] = [(_id(r), None) for _, r in take(plan.refunds_full)]
    refunds += [
        (_id(r), (p.amount / 2).quantize(Decimal("0.01"))) for p, r in take(plan.refunds_partial)
    ]
    calls = [client.capture(_id(r)) for _, r in auths[: plan.captures]]
    calls += [client.void(_id(r)) for _, r in take(plan.voids)]
    results.extend(await gather_limited(_counted(call, on_event) for call in calls))
    return Driven(results, refunds)


async def drive_refunds(
    client: PayTraceClient, driven: Driven, on_event: Callable[[], None] = lambda: None
) -> list[TransactionResult]:
    """The refunds ``drive`` set aside; their sales must be settled by now."""
    calls = [client.refund_for_transaction(sale, amount) for sale, amount in driven.refunds]
    refunded = await gather_limited(_counted(call, on_event) for call in calls)
    driven.results.extend(refunded)
    return refunded


async def _counted(
    call: Awaitable[TransactionResult], on_event: Callable[[], None]
) -> TransactionResult:
    result = await call
    on_event()
    return result
