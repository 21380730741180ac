"""Where a charge's outcome is written outside PayTrace: Salesforce and Sage Pro.

Every write is idempotent so a replayed command can redo it: field updates are plain
overwrites, Tasks and Cases are looked up by their subject (which names the charge key)
before they are created, and the Sage Pro customer and invoice are keyed by their ids.

A batch's records are read together (``Reads``: one SOQL per object, the Account's fields
included). Salesforce write-backs are planned per command (``WriteBack``) and sent per batch by the
``Outbox``: one sObject Collections update for every record, one SOQL look-up per object for the
Tasks/Cases' subjects and one Collections create for those missing. A record's failure in a
collection answer is that command's alone; its ledger entry stays final and not written back,
so its next attempt resumes at the write-back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from connectors.base.errors import ConnectorError, Retriable
from connectors.paytrace.models import ExportedTransaction, TransactionResult
from connectors.sagepro.models import Customer, Invoice
from connectors.salesforce.errors import SYSTEM, record_error
from connectors.salesforce.ids import to_18
from connectors.salesforce.models import RecordResult
from connectors.salesforce.soql import literal
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream.context import PipelineContext
from stream.pci import redact_text

MAX_DETAIL_CHARS = 500
# Both keep a query's URL well under the REST API's length limit.
SUBJECTS_PER_QUERY = 100
IDS_PER_QUERY = 200

OUTCOME_LABEL = {
    LedgerState.DONE: "charged",
    LedgerState.DECLINED: "declined",
    LedgerState.NO_PAYMENT_METHOD: "payment_method_required",
    LedgerState.FAILED: "failed",
}


def pending_summary(values: Iterable[str], now: datetime) -> tuple[int, float]:
    """How many ledger entries are PENDING, and the age in seconds of the oldest."""
    count, oldest = 0, 0.0
    for raw in values:
        if '"state":"PENDING"' not in raw:  # skip parsing the (many) final entries
            continue
        entry = LedgerEntry.model_validate_json(raw)
        count += 1
        oldest = max(oldest, (now - entry.updated_at).total_seconds())
    return count, oldest


def ledger_entry(key: str, state: LedgerState, detail: str = "", **fields: Any) -> LedgerEntry:
    # Free text from PayTrace or Salesforce may echo a card number: never stored as is.
    text = redact_text(detail)[:MAX_DETAIL_CHARS]
    return LedgerEntry(key=key, state=state, detail=text, updated_at=datetime.now(UTC), **fields)


async def ensure_erp_invoice(
    ctx: PipelineContext, command: ChargeCommand, customer_id: str, amount: Decimal
) -> Decimal:
    """The ERP invoice the charge pays: created under the Salesforce record's id if missing.
    Its total, which the charge must match (an existing invoice may say otherwise)."""
    sage = ctx.connectors.sagepro()
    if await sage.get_customer(customer_id) is None:
        await sage.create_customer(
            Customer(customer_id=customer_id, name=f"Salesforce account ({customer_id})")
        )
    existing = await sage.get_invoice(command.record_id)
    if existing is not None:
        return Decimal(existing.total_amount)
    await sage.create_invoice(
        Invoice(
            invoice_id=command.record_id,
            customer_id=customer_id,
            invoice_date=date.today(),
            total_amount=amount,
            memo=f"{command.object} {command.record_id} ({command.trigger})",
        )
    )
    return amount


def sale_from_export(sales: Iterable[ExportedTransaction]) -> TransactionResult | None:
    """The result of a sale an earlier attempt made, read back from PayTrace's export (the
    first one, if a retry made two): how a charge lost between the call and the ledger is
    recognised instead of charged again."""
    sale = min(
        (t for t in sales if str(t.transaction_type) == "SALE"),
        key=lambda t: t.transaction_id,
        default=None,
    )
    if sale is None:
        return None
    status = (sale.status or "").upper()
    code = 102 if status in ("DECLINED", "AUTO_VOIDED") else 101
    return TransactionResult(
        success=code == 101,
        response_code=code,
        status_message=f"found in the export ({status})",
        approval_message=sale.approval_message,
        transaction_id=sale.transaction_id,
    )


@dataclass
class Create:
    """A Task or Case made once: found first by its subject, which names the charge key."""

    obj: str
    subject: str
    fields: dict[str, Any]


@dataclass
class WriteBack:
    """What one outcome writes to Salesforce: fields on the record, then Tasks/Cases."""

    obj: str
    record_id: str
    fields: dict[str, Any]
    creates: list[Create] = field(default_factory=list)
    applied: Callable[[], None] | None = None  # counted once the write is in, not before


def charge_fields(ctx: PipelineContext, obj: str) -> tuple[set[str], set[str]]:
    """The fields of an Opportunity/Order the charge path reads (and the outcome writes), and
    those it reads when the org has them (the sale's description; blank without them)."""
    collection = ctx.mapping.collection
    wanted = {"Id", "OwnerId", collection.account_field}
    wanted |= {t.field for t in collection.triggers if t.object == obj and t.field}
    wanted |= {f for f in (collection.status_field, collection.transaction_field) if f}
    wanted.add(collection.amount_fields.get(obj) or "")
    return wanted - {""}, {f"{name}__c" for name in ctx.mapping.custom_fields}


def write_back(
    ctx: PipelineContext, command: ChargeCommand, entry: LedgerEntry, record: dict[str, Any]
) -> WriteBack:
    """The outcome on the Opportunity/Order, plus a Task (and a Case for a decline)."""
    collection = ctx.mapping.collection
    label = collection.statuses[OUTCOME_LABEL[entry.state]]
    fields: dict[str, Any] = {}
    if collection.status_field:
        fields[collection.status_field] = label
    if collection.transaction_field and entry.transaction_id is not None:
        fields[collection.transaction_field] = str(entry.transaction_id)
    planned = WriteBack(command.object, command.record_id, fields)
    if entry.state is LedgerState.DONE:
        return planned
    owner = record.get("OwnerId")
    task_fields: dict[str, Any] = {
        "WhatId": command.record_id,
        "Description": redact_text(entry.detail),
        "Priority": "High",
    }
    if owner:
        task_fields["OwnerId"] = owner
    planned.creates.append(Create("Task", f"{label}: {command.key}", task_fields))
    if entry.state is LedgerState.DECLINED:
        case_fields: dict[str, Any] = {
            "Description": redact_text(entry.detail),
            "Priority": "High",
        }
        account = record.get(collection.account_field)
        if account:
            case_fields["AccountId"] = account
        planned.creates.append(Create("Case", f"Payment declined: {command.key}", case_fields))
    return planned


def relationship(field_name: str) -> str:
    """A lookup field's relationship name in SOQL: AccountId -> Account, X__c -> X__r."""
    if field_name.endswith("__c"):
        return field_name.removesuffix("__c") + "__r"
    return field_name.removesuffix("Id")


class Reads:
    """A batch's records, read with one SOQL per object (``Id IN (...)``) that also brings
    each record's Account fields (``Account.<field>``): no call per record, none per Account."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.absent: set[str] = set()  # objects without their optional fields (worker's life)

    async def select(
        self,
        salesforce: Any,
        obj: str,
        ids: list[str],
        fields: tuple[set[str], set[str]],
        account: tuple[str, set[str]],
    ) -> None:
        """``fields``: those needed and those read if the org has them; ``account``: the
        lookup field to the Account and the Account fields to bring."""
        lookup, account_fields = account
        rel = relationship(lookup)
        needed, optional = fields
        parents = [f"{rel}.{name}" for name in sorted(account_fields)]
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            listed = ", ".join(literal(to_18(rid)) for rid in chunk)
            asked = needed | {lookup} | (set() if obj in self.absent else optional)
            try:
                rows = await self._query(salesforce, obj, asked, parents, listed)
            except ConnectorError as exc:
                # A field the org lacks fails the whole query (a describe would be a call
                # too): without the optional ones, once for the worker's life.
                if exc.code != "INVALID_FIELD" or not optional or obj in self.absent:
                    raise
                self.absent.add(obj)
                rows = await self._query(salesforce, obj, needed | {lookup}, parents, listed)
            found: dict[str, dict[str, Any]] = {}
            for row in rows:
                parent = row.pop(rel, None)
                if isinstance(parent, dict) and row.get(lookup):
                    key = ("Account", str(row[lookup]))
                    values = {k: v for k, v in parent.items() if k != "attributes"}
                    self.records[key] = {**(self.records.get(key) or {}), **values}
                found[str(row.get("Id"))] = row
            self.records.update(((obj, rid), found.get(to_18(rid))) for rid in chunk)

    async def _query(
        self, salesforce: Any, obj: str, fields: set[str], parents: list[str], listed: str
    ) -> list[dict[str, Any]]:
        columns = ", ".join([*sorted(fields), *parents])
        soql = f"SELECT {columns} FROM {obj} WHERE Id IN ({listed})"  # noqa: S608
        rows: list[dict[str, Any]] = await salesforce.query(soql)
        return rows

    async def read(self, salesforce: Any, obj: str, record_id: str) -> dict[str, Any] | None:
        if (obj, record_id) in self.records:
            found = self.records[(obj, record_id)]
            return dict(found) if found is not None else None
        return await salesforce.get(obj, record_id)  # not read with the batch: on its own

    def forget(self, obj: str, record_id: str) -> None:
        self.records.pop((obj, record_id), None)

    def clear(self) -> None:
        self.records = {}


@dataclass
class Pending:
    key: str  # the ledger key: a command repeated in the batch waits on the same write
    write_back: WriteBack
    done: Callable[[], Awaitable[None]]  # records the entry written back
    items: list[int]  # the batch positions whose result this write decides


def _failure(result: RecordResult) -> ConnectorError | None:
    if result.success:
        return None
    return record_error(result) or Retriable("no result for this record", system=SYSTEM)


class Outbox:
    """A batch's write-backs, sent together by ``flush``."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}

    def add(
        self, key: str, planned: WriteBack, done: Callable[[], Awaitable[None]], item: int
    ) -> None:
        if key in self.pending:
            self.pending[key].items.append(item)
        else:
            self.pending[key] = Pending(key, planned, done, [item])

    def touches(self, obj: str, record_id: str, key: str) -> bool:
        """Whether another key's write to this record waits here (it must land before the
        record is read again for that key)."""
        return any(
            (p.write_back.obj, p.write_back.record_id) == (obj, record_id) and p.key != key
            for p in self.pending.values()
        )

    async def flush(self, salesforce: Any) -> dict[int, BaseException]:
        """Send everything; the failures by batch position (the rest are written back)."""
        pending = list(self.pending.values())
        self.pending = {}
        failed: dict[str, BaseException] = {}
        updates = [p for p in pending if p.write_back.fields]
        if updates:
            rows = [(u.obj, u.record_id, u.fields) for u in (p.write_back for p in updates)]
            try:
                results = await salesforce.update_collection(rows)
            except Exception as exc:  # the whole call: every record's write failed alike
                failed.update((p.key, exc) for p in updates)
            else:
                for p, result in zip(updates, results, strict=True):
                    if (error := _failure(result)) is not None:
                        failed[p.key] = error
        creating = [p for p in pending if p.key not in failed and p.write_back.creates]
        if creating:
            try:
                failed.update(await create_once(salesforce, creating))
            except Exception as exc:
                failed.update((p.key, exc) for p in creating)
        for p in pending:
            if p.key in failed:
                continue
            if p.write_back.applied is not None:
                p.write_back.applied()
            try:
                await p.done()
            except Exception as exc:
                failed[p.key] = exc
        return {i: failed[p.key] for p in pending if p.key in failed for i in p.items}


async def create_once(salesforce: Any, pending: list[Pending]) -> dict[str, BaseException]:
    """Tasks/Cases not made yet, in one create: one look-up per object by subject first (a
    retry after a lost answer finds what the earlier attempt made). Failures by ledger key."""
    wanted: dict[tuple[str, str], Create] = {}
    keys: dict[tuple[str, str], list[str]] = {}
    for p in pending:
        for create in p.write_back.creates:
            wanted.setdefault((create.obj, create.subject), create)
            keys.setdefault((create.obj, create.subject), []).append(p.key)
    found: set[tuple[str, str]] = set()
    for obj in sorted({o for o, _ in wanted}):
        subjects = sorted(s for o, s in wanted if o == obj)
        for start in range(0, len(subjects), SUBJECTS_PER_QUERY):
            chunk = ", ".join(literal(s) for s in subjects[start : start + SUBJECTS_PER_QUERY])
            soql = f"SELECT Subject FROM {obj} WHERE Subject IN ({chunk})"  # noqa: S608
            found |= {(obj, str(row.get("Subject"))) for row in await salesforce.query(soql)}
    missing = [k for k in wanted if k not in found]
    if not missing:
        return {}
    results = await salesforce.create_collection(
        [(obj, {"Subject": subject, **wanted[(obj, subject)].fields}) for obj, subject in missing]
    )
    failed: dict[str, BaseException] = {}
    for made, result in zip(missing, results, strict=True):
        if (error := _failure(result)) is not None:
            failed.update((key, error) for key in keys[made])
    return failed
