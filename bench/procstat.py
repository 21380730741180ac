"""Pure helpers for the worker benchmarks: another process's CPU and RSS from /proc,
percentiles, a lag trend and Prometheus counters read from a ``/metrics`` page.

The worker benchmarks measure `paystream worker` processes from outside, so CPU comes from
``/proc/<pid>/stat`` (utime + stime of the process, all its threads) rather than
``time.process_time`` of the benchmark itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

PROC = Path("/proc")


def clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def parse_stat_cpu(stat: str, ticks_per_second: int) -> float:
    """CPU seconds (user + system, all threads) from one ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may hold spaces or ``)``: split after
    the last ``)``. utime and stime are fields 14 and 15 (1-based)."""
    rest = stat.rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state), so field n is rest[n - 3].
    return (int(rest[11]) + int(rest[12])) / ticks_per_second


def parse_status_rss(status: str) -> int:
    """Resident set size in bytes from a ``/proc/<pid>/status`` text (its ``VmRSS`` line)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit.lower() != "kb":
                raise ValueError(f"unexpected VmRSS unit {unit!r}")
            return int(value) * 1024
    raise ValueError("no VmRSS line (a zombie or kernel thread?)")


def cpu_seconds(pid: int) -> float:
    return parse_stat_cpu((PROC / str(pid) / "stat").read_text(), clock_ticks())


def rss_bytes(pid: int) -> int:
    return parse_status_rss((PROC / str(pid) / "status").read_text())


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty sample: always a value seen."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0.0 with fewer than two distinct x)."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    if var_x == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var_x


def counter_total(metrics_text: str, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of the samples of counter ``name`` in a Prometheus text page whose labels include
    ``labels`` (``name`` without ``_total`` matches too; ``_created`` samples never do)."""
    wanted = {name, f"{name}_total"} if not name.endswith("_total") else {name}
    total = 0.0
    for line in metrics_text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric not in wanted:
            continue
        if labels and not _has_labels(label_text.rstrip("}"), labels):
            continue
        total += float(value)
    return total


def _has_labels(label_text: str, labels: dict[str, str]) -> bool:
    # Label values we match on are flow names: no commas or quotes inside them.
    found = dict(
        part.split("=", 1) for part in label_text.split(",") if "=" in part and part.strip()
    )
    return all(found.get(k, "").strip('"') == v for k, v in labels.items())
