"""Subscription periods due together are read and written back together: one SOQL (the
Account's owner included) and one sObject Collections update for the batch, whatever the number
of periods."""

from __future__ import annotations

from datetime import date

import pytest

from schemas.collection import LedgerState
from tests.unit.flow_fakes import dead_letters, incoming, sent
from tests.unit.subscription_fakes import OWNER
from tests.unit.test_subscription_flows import START, Billing, subscription


async def test_periods_due_together_cost_one_read_and_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = Billing(monkeypatch)
    ids = [b.sf.add_subscription(**subscription(f, START)) for f in ("Monthly", "Weekly")]
    b.pt.cards["vault-Weekly"] = "declines"
    for n, change in enumerate(b.sf.changes):
        await b.scheduler.handle([incoming(change, key=change.record_ids[0], offset=n)])
    b.changes_read = len(b.sf.changes)
    await b.scheduler.tick()
    # One command per period (the scheduler may send one again: a resend is a duplicate).
    commands = list({c.key: c for c in sent(b.ctx, "charge_commands")}.values())
    assert len(commands) == 2
    b.sf.calls.clear()
    await b.agent.handle(
        [incoming(c.value, key=c.key, offset=100 + n) for n, c in enumerate(commands)]
    )
    b.commands_read = len(sent(b.ctx, "charge_commands"))
    # The read (the Task's owner with it), the update, the Task's look-up and its create.
    assert b.sf.calls == {"query": 2, "update": 1, "create": 1}
    task = next(f for o, f in b.sf.created if o == "Task")
    assert task["OwnerId"] == OWNER
    assert b.ledger() == {
        c.key.decode(): s
        for c, s in zip(commands, (LedgerState.DONE, LedgerState.DECLINED), strict=True)
    }
    assert b.sf.records[ids[0]]["NextChargeDate__c"] == date(2027, 2, 1).isoformat()
    assert b.sf.records[ids[1]]["Status__c"] == "Past Due"
    assert b.sf.subjects("Task") == [
        f"Subscription payment failed: sub:{ids[1]}:{START.isoformat()}"
    ]
    assert dead_letters(b.ctx) == []
