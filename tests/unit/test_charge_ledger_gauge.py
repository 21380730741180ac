"""The charge ledger's pending gauges: how many keys are PENDING and how old the oldest is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.charge_outcomes import pending_summary
from schemas.collection import LedgerEntry, LedgerState

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


def entry(key: str, state: LedgerState, minutes_ago: float) -> str:
    updated = NOW - timedelta(minutes=minutes_ago)
    return LedgerEntry(key=key, state=state, updated_at=updated).model_dump_json()


def test_only_pending_entries_count_and_the_oldest_sets_the_age() -> None:
    values = [
        entry("Opportunity:1:closed_won", LedgerState.DONE, 90),  # final: however old
        entry("Opportunity:2:closed_won", LedgerState.PENDING, 2),
        entry("Order:3:order_created", LedgerState.PENDING, 20),
        entry("Order:4:order_created", LedgerState.DECLINED, 60),
        "",  # a key Faust created with the table's default
    ]
    count, oldest = pending_summary(values, NOW)
    assert count == 2
    assert oldest == 20 * 60


def test_no_pending_entry_reads_zero() -> None:
    assert pending_summary([entry("Order:4:order_created", LedgerState.DONE, 5)], NOW) == (0, 0.0)
    assert pending_summary([], NOW) == (0, 0.0)
