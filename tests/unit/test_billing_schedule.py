"""Schedule math: anchor days in short months, leap years, day steps, end date and count;
and the billing clock (simulated time is a function of wall time, frozen at ``until``)."""

from __future__ import annotations

import calendar
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.billing.clock import Clock, ClockSettings
from stream.billing.schedule import Frequency, Schedule

starts = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
month_based = st.sampled_from([Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUAL])


def test_the_31st_charges_on_the_last_day_of_short_months_and_the_31st_again() -> None:
    s = Schedule(Frequency.MONTHLY, date(2027, 1, 31))
    assert [s.nth(n) for n in range(4)] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    leap = Schedule(Frequency.MONTHLY, date(2028, 1, 31))
    assert leap.nth(1) == date(2028, 2, 29)


def test_an_annual_29_february_falls_on_the_28th_in_common_years() -> None:
    s = Schedule(Frequency.ANNUAL, date(2028, 2, 29))
    assert [s.nth(n) for n in range(5)] == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_an_anchor_before_the_start_day_starts_next_month() -> None:
    s = Schedule(Frequency.QUARTERLY, date(2027, 1, 20), anchor_day=5)
    assert s.nth(0) == date(2027, 2, 5)
    assert s.nth(1) == date(2027, 5, 5)


def test_end_date_and_count_stop_the_schedule() -> None:
    by_count = Schedule(Frequency.EVERY_N_DAYS, date(2027, 1, 1), interval_days=10, total_count=3)
    assert by_count.dates(date(2028, 1, 1)) == [
        date(2027, 1, 1),
        date(2027, 1, 11),
        date(2027, 1, 21),
    ]
    assert by_count.next_after(date(2027, 1, 21)) is None
    by_end = Schedule(Frequency.WEEKLY, date(2027, 1, 1), end=date(2027, 1, 15))
    assert by_end.dates(date(2028, 1, 1)) == [date(2027, 1, 1), date(2027, 1, 8), date(2027, 1, 15)]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        Schedule(Frequency.MONTHLY, date(2027, 1, 1), anchor_day=32)
    with pytest.raises(ValueError):
        Schedule(Frequency.EVERY_N_DAYS, date(2027, 1, 1), interval_days=0)


@given(starts, month_based, st.integers(1, 31), st.integers(0, 400))
def test_month_based_dates_keep_the_anchor_or_the_months_last_day(
    start: date, frequency: Frequency, anchor: int, n: int
) -> None:
    s = Schedule(frequency, start, anchor_day=anchor)
    day = s.nth(n)
    last = calendar.monthrange(day.year, day.month)[1]
    assert day.day == min(anchor, last)
    assert day >= start
    assert s.nth(n + 1) > day
    step = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUAL: 12}[frequency]
    following = s.nth(n + 1)
    assert (following.year - day.year) * 12 + following.month - day.month == step


@given(starts, st.sampled_from(list(Frequency)), st.integers(1, 31), st.integers(1, 90))
def test_next_after_is_the_first_date_strictly_later(
    start: date, frequency: Frequency, anchor: int, interval: int
) -> None:
    s = Schedule(frequency, start, anchor_day=anchor, interval_days=interval)
    dates = [s.nth(n) for n in range(30)]
    assert dates == sorted(set(dates))  # strictly increasing, none twice
    for probe in (start - timedelta(days=1), start, dates[3], dates[3] + timedelta(days=1)):
        expected = next(d for d in dates if d > probe)
        assert s.next_after(probe) == expected


@given(starts, st.sampled_from(list(Frequency)), st.integers(0, 40), st.integers(1, 3000))
def test_dates_respect_count_and_end(
    start: date, frequency: Frequency, count: int, days: int
) -> None:
    end = start + timedelta(days=days)
    s = Schedule(frequency, start, interval_days=10, total_count=count, end=end)
    found = s.dates(end + timedelta(days=400))
    assert len(found) <= count
    assert all(start <= d <= end for d in found)


def test_the_clock_runs_fast_from_its_origin_and_stops_at_until() -> None:
    wall = [datetime(2026, 11, 29, tzinfo=UTC).timestamp()]
    settings = ClockSettings(
        start=datetime(2027, 1, 1, tzinfo=UTC),
        origin=datetime(2026, 11, 29, tzinfo=UTC),
        speed=86400,  # a day per second
        until=datetime(2027, 1, 10, tzinfo=UTC),
    )
    clock = Clock(settings, wall=lambda: wall[0])
    assert clock.now() == datetime(2027, 1, 1, tzinfo=UTC)
    wall[0] += 2.5
    assert clock.now() == datetime(2027, 1, 3, 12, tzinfo=UTC)
    # 03:00 UTC on the 3rd is still the 2nd in the merchant's Chicago.
    assert clock.today("America/Chicago") == date(2027, 1, 3)
    wall[0] += 100
    assert clock.now() == datetime(2027, 1, 10, tzinfo=UTC)
    assert clock.wall_seconds(1) == 1.0
    assert not Clock(ClockSettings()).simulated


def test_the_merchant_time_zone_decides_today() -> None:
    late = datetime(2027, 3, 1, 3, 0, tzinfo=UTC).timestamp()  # 2027-02-28 21:00 in Chicago
    clock = Clock(ClockSettings(), wall=lambda: late)
    assert clock.today("America/Chicago") == date(2027, 2, 28)
    assert clock.today("UTC") == date(2027, 3, 1)


def test_a_stepped_clock_reads_its_file(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = Clock(ClockSettings(file=path), wall=lambda: 0.0)
    assert clock.now() == datetime(1970, 1, 1, tzinfo=UTC)  # no file yet: the wall
    path.write_text("2027-03-31T12:00:00+00:00\n")
    assert clock.today("America/Chicago") == date(2027, 3, 31)
    path.write_text("2027-04-01T12:00:00")  # no offset: UTC
    os.utime(path, ns=(1, 10**18))  # a changed stamp, whatever the filesystem's resolution
    assert clock.now() == datetime(2027, 4, 1, 12, tzinfo=UTC)
    path.write_text("garbage")
    os.utime(path, ns=(1, 2 * 10**18))
    assert clock.now() == datetime(2027, 4, 1, 12, tzinfo=UTC)  # the last good instant
    assert clock.simulated
