"""The demo's Salesforce-triggered collection: Opportunities closed won and Orders created
charge the Account's vaulted card; what each should end as, and what it did end as, read back
from PayTrace (sales by record id) and Salesforce (the records' payment status)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from connectors.paytrace.models import ExportedTransaction
from connectors.salesforce.client import SalesforceClient
from stream.demo.seed import DECLINING_ACCOUNT, NO_VAULT_ACCOUNT, SeedData, gather_limited
from stream.mapping import CollectionMapping


@dataclass
class CollectionPlan:
    # record id -> the status label it must end with
    expected: dict[str, str] = field(default_factory=dict)
    closed_won: list[str] = field(default_factory=list)


def plan_collection(
    seed: SeedData, collection: CollectionMapping, rng: random.Random, closed_won: int
) -> CollectionPlan:
    """Every seeded Order (created: a trigger) and ``closed_won`` Opportunities."""
    labels = collection.statuses
    account_index = {account: index for index, account in enumerate(seed.accounts)}

    def outcome(account: str) -> str:
        index = account_index[account]
        if index == NO_VAULT_ACCOUNT:
            return labels["payment_method_required"]
        if index == DECLINING_ACCOUNT:
            return labels["declined"]
        return labels["charged"]

    plan = CollectionPlan()
    for order, account in seed.order_accounts.items():
        plan.expected[order] = outcome(account)
    chosen = rng.sample(sorted(seed.opportunity_accounts), min(closed_won, len(seed.opportunities)))
    for opportunity in chosen:
        plan.closed_won.append(opportunity)
        plan.expected[opportunity] = outcome(seed.opportunity_accounts[opportunity])
    return plan


async def close_won(salesforce: SalesforceClient, plan: CollectionPlan) -> None:
    await gather_limited(
        salesforce.update("Opportunity", opportunity, {"StageName": "Closed Won"})
        for opportunity in plan.closed_won
    )


@dataclass
class CollectionResult:
    requested: int
    charged: int
    declined: int
    payment_method_required: int
    duplicate_charges: int
    missing: list[str]
    sales: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.missing and self.duplicate_charges == 0


def collection_result(
    plan: CollectionPlan,
    collection: CollectionMapping,
    records: dict[str, dict[str, Any]],
    transactions: list[ExportedTransaction],
) -> CollectionResult:
    """``records``: Opportunities and Orders by id, as Salesforce holds them."""
    sales = Counter(
        t.invoice_id
        for t in transactions
        if str(t.transaction_type) == "SALE" and t.invoice_id in plan.expected
    )
    status_field = collection.status_field or ""
    found = {rid: (records.get(rid) or {}).get(status_field) for rid in plan.expected}
    labels = collection.statuses
    wanted_sales = {
        rid for rid, label in plan.expected.items() if label != labels["payment_method_required"]
    }
    missing = [rid for rid, label in plan.expected.items() if found[rid] != label]
    missing += [rid for rid in wanted_sales if sales[rid] == 0]
    return CollectionResult(
        requested=len(plan.expected),
        charged=sum(1 for v in found.values() if v == labels["charged"]),
        declined=sum(1 for v in found.values() if v == labels["declined"]),
        payment_method_required=sum(
            1 for v in found.values() if v == labels["payment_method_required"]
        ),
        duplicate_charges=sum(n - 1 for n in sales.values() if n > 1),
        missing=missing,
        sales=sales,
    )
