"""Fix 6: Faust never commits past a record it handed to a stream that was not acknowledged,
while a transaction marker at the commit position is still passed over as Faust meant."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from intervaltree import IntervalTree

from stream import faust_commit_guard, faust_fixes

RAW, CHANGELOG = TP("raw", 0), TP("app-ledger-changelog", 0)
faust_fixes.apply()
FAUST_NEW_OFFSET = Consumer._new_offset.__wrapped__  # type: ignore[attr-defined]
GUARDED = faust_commit_guard.guard_new_offset(FAUST_NEW_OFFSET)


def consumer(committed: int, acked: list[int]) -> Any:
    fake = SimpleNamespace(
        _acked=defaultdict(list, {RAW: list(acked)}),
        _acked_index=defaultdict(set, {RAW: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {RAW: committed}),
        _gap=defaultdict(IntervalTree),
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda t: t == RAW.topic)),
    )
    return fake


def hand_on(fake: Any, tp: TP, *offsets: int) -> None:
    remember = faust_commit_guard.remembering(fake)
    for offset in offsets:
        remember(tp, offset)


def test_faust_alone_commits_past_a_lost_record_at_the_commit_position() -> None:
    # 120 handed on and lost (never acked); 121-124 processed and acked.
    fake = consumer(120, [121, 122, 123, 124])
    assert FAUST_NEW_OFFSET(fake, RAW) == 125  # what the fix is for: 120 skipped


def test_a_lost_record_at_the_commit_position_holds_the_commit() -> None:
    fake = consumer(120, [121, 122, 123, 124])
    hand_on(fake, RAW, 120, 121, 122, 123, 124)
    assert GUARDED(fake, RAW) is None
    assert fake._acked[RAW] == [121, 122, 123, 124]  # kept for when 120 is read again
    # Read again (the stall watchdog's seek) and acknowledged: the commit goes on.
    fake._acked[RAW].append(120)
    fake._acked_index[RAW].add(120)
    assert GUARDED(fake, RAW) == 125


def test_a_transaction_marker_at_the_commit_position_is_still_passed_over() -> None:
    fake = consumer(120, [121, 122])
    hand_on(fake, RAW, 121, 122)  # 120 was never handed on: no record there
    assert GUARDED(fake, RAW) == 123


def test_what_is_committed_is_forgotten() -> None:
    fake = consumer(120, [120, 121, 122])
    hand_on(fake, RAW, 120, 121, 122, 123)
    assert GUARDED(fake, RAW) == 123
    assert faust_commit_guard.handed_offsets(fake)[RAW] == {123}  # in progress, kept


def test_changelog_records_are_not_remembered() -> None:
    fake = consumer(0, [])
    hand_on(fake, CHANGELOG, 1, 2, 3)
    assert CHANGELOG not in faust_commit_guard.handed_offsets(fake)


@given(st.integers(0, 50), st.sets(st.integers(0, 80), max_size=40), st.data())
def test_never_commits_past_a_record_handed_on_and_not_acked(
    committed: int, handed: set[int], data: st.DataObject
) -> None:
    drawn = data.draw(st.sets(st.sampled_from(sorted(handed)), max_size=40)) if handed else set()
    acked = sorted(o for o in drawn if o >= committed)
    fake = consumer(committed, acked)
    hand_on(fake, RAW, *handed)
    new_offset = GUARDED(fake, RAW)
    if new_offset is not None:
        lost = {o for o in handed if o not in acked}
        assert not [o for o in lost if committed <= o < new_offset]
