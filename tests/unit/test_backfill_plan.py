"""Backfill planning: day chunks, the path each sink takes, the summary."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.backfill_plan import BackfillReport, Route, day_chunks, route


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    st.integers(0, 90),
    st.integers(1, 31),
)
def test_chunks_cover_the_range_once_in_order(first: date, span: int, days: int) -> None:
    last = first + timedelta(days=span)
    chunks = day_chunks(first, last, days)
    assert chunks[0][0] == first and chunks[-1][1] == last
    for (_, b), (c, _) in pairwise(chunks):
        assert c == b + timedelta(days=1)
    assert all(0 <= (b - a).days < days for a, b in chunks)


def test_a_reversed_range_is_refused() -> None:
    with pytest.raises(ValueError):
        day_chunks(date(2026, 1, 2), date(2026, 1, 1), 1)


def test_routes() -> None:
    assert route("all", 10, 2000) == Route(False, "all")
    assert route("sagepro", 10_000, 2000) == Route(False, "sagepro")
    # Bulk for Salesforce: only Sage Pro's share goes on the topic, or nothing.
    assert route("all", 2000, 2000) == Route(True, "sagepro")
    assert route("salesforce", 5000, 2000) == Route(True, None)
    with pytest.raises(ValueError):
        route("crm", 1, 1)


def test_the_summary_says_what_was_done() -> None:
    report = BackfillReport("id", date(2026, 1, 1), date(2026, 1, 2), "all", dry_run=True)
    report.fetched, report.payments = 3, 2
    report.rejected["malformed"] = 1
    text = "\n".join(report.lines())
    assert "3 transactions, 2 payments" in text and "rejected 1: malformed" in text
    assert "would publish" in text and "dry run" in text
