"""Fakes for the recurring billing flows: a Salesforce that records updates as change events
(what CDC would deliver back to the scheduler), a PayTrace vault whose cards decline by key
or by card, a Sage Pro that keeps invoices, and a clock the test moves a day at a time."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from connectors.base.errors import Retriable
from connectors.paytrace.models import CardSummary, TransactionResult
from connectors.salesforce.ids import make_id
from schemas.collection import SalesforceChange
from stream.mapping import SubscriptionFields
from tests.unit.flow_fakes import FakeCollections

ACCOUNT = make_id("001", 7)
OWNER = make_id("005", 1)
BAD_CARDS = {"declines": "DECLINE - Do not honor", "stolen": "DECLINE - Pick up card (stolen)"}


@dataclass
class FakeClock:
    day: date

    def today(self, zone: str) -> date:
        return self.day

    def wall_seconds(self, days: float) -> float:
        return 0.1


@dataclass
class FakeSalesforce(FakeCollections):
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changes: list[SalesforceChange] = field(default_factory=list)  # what CDC would deliver
    ids: Any = field(default_factory=lambda: itertools.count(1))
    calls: Counter[str] = field(default_factory=Counter)
    failing: set[str] = field(default_factory=set)

    def add_subscription(self, **fields: Any) -> str:
        rid = make_id("a0U", next(self.ids))
        self.records[rid] = {"Account__c": ACCOUNT, "Status__c": "Active", **fields}
        self._change("CREATE", rid, dict(self.records[rid]), "user")
        return rid

    def edit(self, rid: str, **fields: Any) -> None:
        """A user's edit in Salesforce."""
        self.records[rid].update(fields)
        self._change("UPDATE", rid, fields, "user")

    def _change(self, kind: str, rid: str, values: dict[str, Any], origin: str) -> None:
        self.changes.append(
            SalesforceChange(
                topic="/data/Subscription__ChangeEvent",
                entity="Subscription__c",
                change_type=kind,
                record_ids=[rid],
                changed_fields=list(values),
                values={k: v for k, v in values.items() if v is not None},
                change_origin=f"com/salesforce/api/rest/60.0;client={origin}",
            )
        )

    def field_names(self, obj: str) -> set[str]:
        return {"Id", "OwnerId", *SubscriptionFields().model_dump().values()}

    async def row(self, obj: str, record_id: str) -> dict[str, Any] | None:
        if obj == "Account":
            return {"Id": record_id, "OwnerId": OWNER}
        found = self.records.get(record_id)
        return dict(found) if found is not None else None

    async def apply(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        self.records[record_id].update(fields)
        self._change("UPDATE", record_id, fields, "paystream")

    async def make(self, obj: str, fields: dict[str, Any]) -> str:
        self.created.append((obj, fields))
        return make_id("00T", len(self.created))

    def subjects(self, obj: str) -> list[str]:
        return [f["Subject"] for o, f in self.created if o == obj]


@dataclass
class FakePayTrace:
    cards: dict[str, str] = field(default_factory=dict)  # vault id -> "good" / a BAD_CARDS key
    decline_keys: set[str] = field(default_factory=set)  # attempts declined whatever the card
    sales: list[dict[str, Any]] = field(default_factory=list)
    lose_answers: int = 0  # the next N sales are made but their answer is lost

    async def sale_by_customer(
        self, customer_id: str, amount: Decimal, invoice_id: str, **extra: Any
    ) -> TransactionResult:
        key = extra["description"].removeprefix("subscription=")
        card = self.cards.get(customer_id, "good")
        message = BAD_CARDS.get(card) or (
            "DECLINE - Do not honor" if key in self.decline_keys else ""
        )
        sale = {
            "transaction_id": len(self.sales) + 1,
            "vault": customer_id,
            "amount": amount,
            "invoice_id": invoice_id,
            "key": key,
            "customer_reference_id": extra["customer_reference_id"],
            "status": "DECLINED" if message else "APPROVED",
            "message": message or "APPROVAL",
        }
        self.sales.append(sale)
        if self.lose_answers:
            self.lose_answers -= 1
            raise Retriable("answer lost", system="paytrace", status=504)
        code = 102 if message else 101
        return TransactionResult(
            success=not message,
            response_code=code,
            status_message="declined" if message else "approved",
            approval_message=sale["message"],
            transaction_id=sale["transaction_id"],
        )

    async def export_by_date_range(self, *_: Any, invoice_id: str) -> list[Any]:
        return [
            SimpleNamespace(
                transaction_type="SALE",
                status=s["status"],
                transaction_id=s["transaction_id"],
                description=f"subscription={s['key']}",
                approval_message=s["message"],
            )
            for s in self.sales
            if s["invoice_id"] == invoice_id
        ]

    async def export_customers(self, customer_id: str) -> list[Any]:
        card = self.cards.get(customer_id, "good")
        last4 = {"good": "1111", "declines": "0002"}.get(card, "0003")
        summary = CardSummary(
            masked_number=f"************{last4}", expiration_month=12, expiration_year=2030
        )
        return [SimpleNamespace(customer_id=customer_id, credit_card=summary)]

    def charged(self, rid: str) -> list[dict[str, Any]]:
        return [s for s in self.sales if s["customer_reference_id"] == rid]
