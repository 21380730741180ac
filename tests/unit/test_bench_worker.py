"""The worker benchmarks' pure helpers: /proc parsing, percentiles, the lag trend, counters
read from a /metrics page, and the options. The benchmarks themselves run real workers and
stay out of the test suite (`make bench`)."""

from __future__ import annotations

import argparse
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import procstat, worker_suite
from bench.worker_drain import Progress
from bench.worker_latency import HELD_SLOPE, split, summarise

# A real /proc/<pid>/stat line, with a command name holding a space and a parenthesis.
STAT = (
    "4242 (python -m x) y) S 1 4242 4242 0 -1 4194560 9083 0 0 0 "
    "250 75 0 0 20 0 3 0 1234567 454545454 40000 18446744073709551615 1 1 0 0 0 0 0 "
    "16781312 134234626 0 0 0 17 1 0 0 0 0 0"
)


def test_stat_cpu_is_utime_plus_stime_after_the_last_parenthesis() -> None:
    assert procstat.parse_stat_cpu(STAT, 100) == pytest.approx(3.25)


def test_status_rss_in_bytes() -> None:
    status = "Name:\tpython\nVmPeak:\t 900 kB\nVmRSS:\t  12345 kB\nThreads:\t3\n"
    assert procstat.parse_status_rss(status) == 12345 * 1024
    with pytest.raises(ValueError):
        procstat.parse_status_rss("Name:\tkworker\n")


def test_this_process_is_measured_from_proc() -> None:
    before = procstat.cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))  # some CPU, so the counter can only have moved on
    assert procstat.cpu_seconds(os.getpid()) >= before
    assert procstat.rss_bytes(os.getpid()) > 1024 * 1024


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert procstat.percentile(values, 50) == 50.0
    assert procstat.percentile(values, 99) == 99.0
    assert procstat.percentile(values, 100) == 100.0
    assert procstat.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        procstat.percentile([], 50)
    with pytest.raises(ValueError):
        procstat.percentile([1.0], 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_is_a_value_seen_and_monotonic_in_q(values: list[float], q: float) -> None:
    p = procstat.percentile(values, q)
    assert p in values
    assert procstat.percentile(values, 0) <= p <= procstat.percentile(values, 100)


def test_slope_of_a_line_and_of_degenerate_input() -> None:
    assert procstat.slope([(x, 3 + 0.5 * x) for x in range(10)]) == pytest.approx(0.5)
    assert procstat.slope([(1.0, 2.0)]) == 0.0
    assert procstat.slope([(1.0, 2.0), (1.0, 5.0)]) == 0.0


METRICS = """# HELP paystream_events_out_total Events an agent emitted or delivered.
# TYPE paystream_events_out_total counter
paystream_events_out_total{agent="salesforce_payment_sink"} 180.0
paystream_events_out_total{agent="sagepro_payment_sink"} 40.0
paystream_events_out_created{agent="salesforce_payment_sink"} 1.7e+09
paystream_events_ignored_total{agent="salesforce_payment_sink",reason="replayed"} 2.0
paystream_events_ignored_total{agent="salesforce_payment_sink",reason="own_write"} 3.0
"""


def test_counter_total_sums_matching_series_only() -> None:
    sink = {"agent": "salesforce_payment_sink"}
    assert procstat.counter_total(METRICS, "paystream_events_out", sink) == 180.0
    assert procstat.counter_total(METRICS, "paystream_events_out_total") == 220.0
    assert procstat.counter_total(METRICS, "paystream_events_ignored", sink) == 5.0
    assert procstat.counter_total(METRICS, "paystream_events_failed", sink) == 0.0


def test_latency_summary_held_and_not_held() -> None:
    sent = {str(i): 100.0 + i * 0.1 for i in range(100)}
    steady = {k: t + 0.2 for k, t in sent.items()}
    summary = summarise(sent, steady)
    assert summary["p50_ms"] == pytest.approx(200)
    assert summary["delivered"] == 1.0
    assert summary["held"] == 1.0
    # Lag growing 0.5 s per second: the pipeline keeps about two thirds of the pace.
    falling_behind = {k: t + 0.2 + 0.5 * (t - 100.0) for k, t in sent.items()}
    behind = summarise(sent, falling_behind)
    assert behind["slope"] == pytest.approx(0.5) and behind["slope"] > HELD_SLOPE
    assert behind["held"] == 0.0
    # A short step's saw-tooth tilts the trend, but 0.3 s of growth in all is no lag.
    short = {k: t + 0.2 + 0.1 * (t - 100.0) for k, t in list(sent.items())[:30]}
    tilted = summarise({k: sent[k] for k in short}, short)
    assert tilted["slope"] > HELD_SLOPE and tilted["held"] == 1.0
    missing = dict(list(steady.items())[:-1])
    assert summarise(sent, missing)["held"] == 0.0


def test_latency_split_at_the_payments_record() -> None:
    sent = {str(i): 100.0 + i for i in range(100)}
    normalized = {k: t + 0.05 for k, t in sent.items()}
    arrived = {k: t + 0.5 for k, t in normalized.items()}
    del normalized["7"]  # not read back: left out of both parts, not counted as zero
    parts = split(sent, normalized, arrived)
    assert parts["normalized_50_ms"] == pytest.approx(50)
    assert parts["normalized_99_ms"] == pytest.approx(50)
    assert parts["sunk_50_ms"] == pytest.approx(500)
    assert parts["sunk_99_ms"] == pytest.approx(500)
    assert split(sent, {}, arrived)["sunk_50_ms"] != split(sent, {}, arrived)["sunk_50_ms"]  # nan


def test_progress_rate_leaves_start_up_out() -> None:
    seen = Progress()
    seen.see(10.0, 0, 100)  # started, nothing done yet
    seen.see(12.0, 20, 100)
    seen.see(16.0, 100, 100)
    seen.see(20.0, 100, 100)  # done stays done
    assert seen.rate(100) == pytest.approx(80 / 4)
    at_once = Progress(started=10.0)
    at_once.see(12.0, 0, 50)
    at_once.see(15.0, 50, 50)  # first and last in the same sample: from the start instead
    assert at_once.rate(50) == pytest.approx(50 / 5)


def test_options() -> None:
    parser = argparse.ArgumentParser()
    worker_suite.add_arguments(parser)
    args = parser.parse_args(["--rates", "50,20", "--keys", "100_000,1000000"])
    assert args.rates == (50.0, 20.0) and args.keys == (100_000, 1_000_000)
    options = worker_suite.OPTIONS
    saved = (options.rates, options.keys)
    try:
        worker_suite.configure(args)
        assert options.rates == (20.0, 50.0)
        assert options.keys == (100_000, 1_000_000)
    finally:
        options.rates, options.keys = saved
    for bad in ("0", "a,b", ""):
        with pytest.raises(SystemExit):
            parser.parse_args(["--rates", bad])
