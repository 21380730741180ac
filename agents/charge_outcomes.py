"""Where a charge's outcome is written outside PayTrace: Salesforce and Sage Pro.

Every write is idempotent so a replayed command can redo it: field updates are plain
overwrites, Tasks and Cases are looked up by their subject (which names the charge key)
before they are created, and the Sage Pro customer and invoice are keyed by their ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.paytrace.models import ExportedTransaction, TransactionResult
from connectors.sagepro.models import Customer, Invoice
from connectors.salesforce.soql import literal
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream.context import PipelineContext
from stream.pci import redact_text

OUTCOME_LABEL = {
    LedgerState.DONE: "charged",
    LedgerState.DECLINED: "declined",
    LedgerState.NO_PAYMENT_METHOD: "payment_method_required",
    LedgerState.FAILED: "failed",
}


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


async def create_once(ctx: PipelineContext, obj: str, subject: str, fields: dict[str, Any]) -> None:
    salesforce = ctx.connectors.salesforce()
    soql = f"SELECT Id FROM {obj} WHERE Subject = {literal(subject)}"  # noqa: S608
    if not await salesforce.query(soql):
        await salesforce.create(obj, {"Subject": subject, **fields})


async def write_back(
    ctx: PipelineContext, command: ChargeCommand, entry: LedgerEntry, record: dict[str, Any]
) -> None:
    """The outcome on the Opportunity/Order, plus a Task (and a Case for a decline)."""
    collection = ctx.mapping.collection
    salesforce = ctx.connectors.salesforce()
    label = collection.statuses[OUTCOME_LABEL[entry.state]]
    fields: dict[str, Any] = {}
    if collection.status_field:
        fields[collection.status_field] = label
    if collection.transaction_field and entry.transaction_id is not None:
        fields[collection.transaction_field] = str(entry.transaction_id)
    if fields:
        await salesforce.update(command.object, command.record_id, fields)
    if entry.state is LedgerState.DONE:
        return
    owner = record.get("OwnerId")
    task_fields: dict[str, Any] = {
        "WhatId": command.record_id,
        "Description": redact_text(entry.detail),
        "Priority": "High",
    }
    if owner:
        task_fields["OwnerId"] = owner
    await create_once(ctx, "Task", f"{label}: {command.key}", task_fields)
    if entry.state is LedgerState.DECLINED:
        case_fields: dict[str, Any] = {
            "Description": redact_text(entry.detail),
            "Priority": "High",
        }
        account = record.get(collection.account_field)
        if account:
            case_fields["AccountId"] = account
        await create_once(ctx, "Case", f"Payment declined: {command.key}", case_fields)
