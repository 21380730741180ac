"""Where a subscription attempt's outcome is written: the subscription itself (next charge
date, dunning state, status), a Task for the account owner on a period's first failure and a
Case on its last. Each write is idempotent: field updates are overwrites, guarded so an old
outcome never moves the record back, and Tasks/Cases are found by their subject first.

``write_back`` plans the writes; the charge agent sends a batch's plans together
(agents/charge_outcomes.py ``Outbox``) and counts dunning, recovery and suspension once they
are in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from agents.charge_outcomes import Create, WriteBack
from schemas.collection import ChargeCommand, LedgerEntry, LedgerState
from stream.billing import metrics as billing_metrics
from stream.billing.state import NotBillable, Subscription, failed, paid, parse_key
from stream.context import PipelineContext
from stream.pci import redact_text
from stream.runtime.outcomes import Rejected


async def write_back(
    ctx: PipelineContext,
    command: ChargeCommand,
    entry: LedgerEntry,
    record: dict[str, Any],
    today: date,
    card: str | None,
    read: Callable[[str, str], Awaitable[dict[str, Any] | None]],
) -> WriteBack | None:
    """The writes for this outcome; None when the record no longer wants any."""
    m = ctx.mapping.subscriptions
    parsed = parse_key(command.key)
    if parsed is None:
        return None
    _, period, attempt = parsed
    try:
        sub = Subscription.from_record(command.record_id, record, m)
    except NotBillable:
        return None  # nothing we could move on: the ledger holds the money's truth
    if not sub.wants(period, attempt):
        return None  # the record moved on already (a replay, or a later outcome was written)
    try:
        if entry.state is LedgerState.DONE:
            outcome = paid(sub, period, attempt, today, m)
        else:
            hard = entry.state is LedgerState.FAILED or m.is_hard_decline(entry.detail)
            outcome = failed(sub, period, attempt, hard, card, m)
    except (ValueError, OverflowError) as exc:  # a schedule past the calendar's end
        raise Rejected("subscription_not_billable", str(exc)[:200]) from exc

    def applied() -> None:
        if outcome.task:  # the period's first failure: it enters dunning
            billing_metrics.PERIODS.labels("dunning").inc()
        if outcome.recovered:
            billing_metrics.PERIODS.labels("recovered").inc()
        if outcome.suspended:
            billing_metrics.PERIODS.labels("suspended").inc()

    planned = WriteBack(m.object, sub.id, dict(outcome.fields), applied=applied)
    if not (outcome.task or outcome.case):
        return planned
    owner = None
    if sub.account_id and outcome.task:
        account = await read("Account", sub.account_id) or {}
        owner = account.get("OwnerId")
    detail = redact_text(entry.detail)
    base_key = f"sub:{sub.id}:{period.isoformat()}"
    if outcome.task:
        task: dict[str, Any] = {
            "WhatId": sub.id,
            "Description": detail,
            "Priority": m.task_priority,
        }
        if owner:
            task["OwnerId"] = owner
        planned.creates.append(Create("Task", f"Subscription payment failed: {base_key}", task))
    if outcome.case:
        case: dict[str, Any] = {"Description": detail, "Priority": m.case_priority}
        if sub.account_id:
            case["AccountId"] = sub.account_id
        planned.creates.append(Create("Case", f"Subscription suspended: {base_key}", case))
    return planned
