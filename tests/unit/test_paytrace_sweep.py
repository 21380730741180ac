"""The PayTrace poller's adaptive read schedule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agents.paytrace_sweep import IDLE_SMALL_CEILING_FACTOR, SweepSchedule


def schedule() -> SweepSchedule:
    return SweepSchedule(base=5.0, ceiling=21_600.0, ratio=1.5, free_records=200)


def test_the_first_read_is_a_backlog_not_a_pace() -> None:
    s = schedule()
    assert s.observe(0.0, downloaded=50_000, fresh=50_000) == 5.0
    assert s.rate is None


def test_a_small_window_is_read_every_base_interval() -> None:
    s = schedule()
    assert s.due(0.0)
    s.observe(95.0, downloaded=100, fresh=100)
    assert s.observe(100.0, downloaded=150, fresh=20) == 5.0
    assert not s.due(104.0) and s.due(105.0)


def test_a_large_window_waits_for_enough_fresh_records_to_keep_the_ratio() -> None:
    s = schedule()
    s.observe(0.0, downloaded=100, fresh=100)
    # 10 fresh/s, 10,000 in the window: 10,000 / (rate * 0.5) seconds.
    interval = s.observe(1000.0, downloaded=10_000, fresh=10_000)
    assert s.rate is not None
    assert interval == 10_000 / (s.rate * 0.5)
    # What that read will cost per fresh record, if the pace holds: the ratio.
    assert (10_000 + s.rate * interval) / (s.rate * interval) == 1.5


def test_busier_means_sooner() -> None:
    quiet, busy = schedule(), schedule()
    quiet.observe(-60.0, 300, 300)
    busy.observe(-60.0, 300, 300)
    quiet.observe(0.0, 300, 1)
    busy.observe(0.0, 300, 1)
    assert busy.observe(60.0, 5_000, 3_000) < quiet.observe(60.0, 5_000, 30)


def test_idle_doubles_up_to_the_ceiling_and_small_idle_windows_stay_near_base() -> None:
    s = schedule()
    intervals = [s.observe(t * 100.0, downloaded=50_000, fresh=0) for t in range(20)]
    assert intervals[:4] == [5.0, 10.0, 20.0, 40.0] and intervals[-1] == 21_600.0
    small = schedule()
    longest = max(small.observe(t * 100.0, downloaded=10, fresh=0) for t in range(10))
    assert longest == 5.0 * IDLE_SMALL_CEILING_FACTOR


@given(
    st.lists(
        st.tuples(st.integers(0, 1_000_000), st.integers(0, 100_000), st.floats(0.01, 5_000)),
        min_size=1,
        max_size=30,
    )
)
def test_never_sooner_than_base_nor_later_than_the_ceiling(
    reads: list[tuple[int, int, float]],
) -> None:
    s, now = schedule(), 0.0
    for downloaded, fresh, gap in reads:
        now += gap
        assert 5.0 <= s.observe(now, downloaded, min(fresh, downloaded)) <= 21_600.0


def test_hurry_makes_the_next_tick_read() -> None:
    s = schedule()
    s.observe(0.0, 100_000, 0)
    assert not s.due(1.0)
    s.hurry()
    assert s.due(1.0)
