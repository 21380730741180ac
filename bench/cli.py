"""``python -m bench``: run the benchmarks, print a table, optionally JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import (
    backfill_bulk,
    broker_passthrough,
    http_client,
    paytrace_polling,
    risk,
    salesforce_sink,
    transform,
    worker_suite,
)
from bench.result import BenchResult

TABLE_WIDTH = 110
Runner = Callable[[int, int], Awaitable[BenchResult]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    default_records: int
    run: Runner


async def _transform(records: int, repeats: int) -> BenchResult:
    return transform.run_transform(records, repeats)


async def _risk(records: int, repeats: int) -> BenchResult:
    return risk.run_risk(records, repeats)


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(transform.NAME, transform.DEFAULT_RECORDS, _transform),
        Benchmark(
            salesforce_sink.NAME,
            salesforce_sink.DEFAULT_RECORDS,
            salesforce_sink.run_salesforce_sink,
        ),
        Benchmark(risk.NAME, risk.DEFAULT_RECORDS, _risk),
        Benchmark(
            paytrace_polling.NAME,
            paytrace_polling.DEFAULT_RECORDS,
            paytrace_polling.run_paytrace_polling,
        ),
        Benchmark(
            backfill_bulk.NAME, backfill_bulk.DEFAULT_RECORDS, backfill_bulk.run_backfill_bulk
        ),
        Benchmark(http_client.NAME, http_client.DEFAULT_RECORDS, http_client.run_http_client),
        Benchmark(
            broker_passthrough.NAME,
            broker_passthrough.DEFAULT_RECORDS,
            broker_passthrough.run_broker_passthrough,
        ),
        # Real `paystream worker` processes on the embedded broker (bench/worker_suite.py).
        *(Benchmark(name, records, runner) for name, records, runner in worker_suite.RUNNERS),
    )
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Each benchmark measures a subject and its baseline in the same run; "
        "compare the ratios, not the absolute rates.",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        metavar="N",
        help="records per run for every benchmark (default: each benchmark's own: "
        + ", ".join(f"{b.name} {b.default_records}" for b in BENCHMARKS.values())
        + ")",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help="run only this benchmark (repeatable): " + ", ".join(BENCHMARKS),
    )
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="K", help="runs per side; the median is kept"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="also write the results as JSON to FILE (or to stdout when no FILE is given)",
    )
    worker_suite.add_arguments(parser)
    args = parser.parse_args(argv)
    if args.records is not None and args.records < 1:
        parser.error("--records must be at least 1")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}" if value < 10 else f"{value:,.1f}"


def _spread(values: tuple[float, ...]) -> str:
    """Lowest to highest per-repetition ratio."""
    if len(values) < 2:
        return "-"
    return f"{min(values):.3f}-{max(values):.3f}"


def render(results: list[BenchResult]) -> Table:
    table = Table(
        title="paystream benchmarks: medians; ratio = subject / baseline; "
        "range = per-repetition ratios"
    )
    table.add_column("benchmark", no_wrap=True)
    table.add_column("records", justify="right")
    table.add_column("metric")
    for column in ("subject", "baseline", "ratio", "ratio range"):
        table.add_column(column, justify="right")
    for result in results:
        for index, metric in enumerate(result.metrics):
            first = index == 0
            table.add_row(
                result.name if first else "",
                f"{result.records:,}" if first else "",
                metric.unit,
                _number(metric.subject),
                _number(metric.baseline),
                f"{metric.ratio:.3f}",
                _spread(metric.ratio_runs),
            )
        table.add_section()
    return table


def describe(results: list[BenchResult]) -> list[str]:
    return [f"{r.name}: subject = {r.subject}; baseline = {r.baseline}" for r in results]


def report(results: list[BenchResult], argv: Sequence[str]) -> dict[str, object]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "-m", "bench", *argv]),
        "results": [r.as_dict() for r in results],
    }


async def run(names: list[str], records: int | None, repeats: int) -> list[BenchResult]:
    results = []
    for name in names:
        bench = BENCHMARKS[name]
        results.append(await bench.run(records or bench.default_records, repeats))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(args_list)
    worker_suite.configure(args)
    names = list(dict.fromkeys(args.only or BENCHMARKS))  # in the given order, no repeats
    to_stdout = args.json == "-"
    # With JSON on stdout, the human-readable table goes to stderr.
    stream = sys.stderr if to_stdout else sys.stdout
    # Piped output has no terminal width; rich would squeeze the table into 80 columns.
    console = Console(stderr=to_stdout, width=None if stream.isatty() else TABLE_WIDTH)
    with console.status("running " + ", ".join(names)):
        results = asyncio.run(run(names, args.records, args.repeats))
    console.print(render(results))
    for line in describe(results):
        console.print(line, highlight=False)
    if args.json is not None:
        text = json.dumps(report(results, args_list), indent=2)
        if to_stdout:
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0
