"""The benchmarks that run real `paystream worker` processes, as `bench/cli.py` lists them,
and the two options only they take (``--rates``, ``--keys``)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench import worker_cpu, worker_drain, worker_latency, worker_memory, worker_risk_cost
from bench.result import BenchResult

Runner = Callable[[int, int], Awaitable[BenchResult]]


@dataclass
class Options:
    rates: tuple[float, ...] = worker_latency.DEFAULT_RATES
    keys: tuple[int, ...] = ()  # checkpoints for worker_memory; () = just --records


OPTIONS = Options()


def _numbers(kind: type[float] | type[int]) -> Callable[[str], tuple[float, ...]]:
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(kind(part.replace("_", "")) for part in text.split(",") if part)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r}") from exc
        if not values or any(v <= 0 for v in values):
            raise argparse.ArgumentTypeError("give positive numbers, e.g. 20,50,100")
        return values

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rates",
        type=_numbers(float),
        default=None,
        metavar="R,R,...",
        help=f"{worker_latency.NAME}: offered records/s per step "
        f"(default {','.join(f'{r:g}' for r in worker_latency.DEFAULT_RATES)})",
    )
    parser.add_argument(
        "--keys",
        type=_numbers(int),
        default=None,
        metavar="N,N,...",
        help=f"{worker_memory.NAME}: distinct-key checkpoints (default: --records, "
        f"{worker_memory.DEFAULT_RECORDS})",
    )


def configure(args: argparse.Namespace) -> None:
    if args.rates:
        OPTIONS.rates = tuple(sorted(args.rates))
    if args.keys:
        OPTIONS.keys = tuple(int(k) for k in args.keys)


async def _latency(records: int, repeats: int) -> BenchResult:
    return await worker_latency.run_worker_latency(records, repeats, OPTIONS.rates)


async def _memory(records: int, repeats: int) -> BenchResult:
    return await worker_memory.run_worker_memory(records, repeats, OPTIONS.keys)


RUNNERS: tuple[tuple[str, int, Runner], ...] = (
    (worker_cpu.NORMALIZER, worker_cpu.DEFAULT_RECORDS, worker_cpu.run_worker_normalizer),
    (worker_cpu.IDLE, 0, worker_cpu.run_worker_idle),
    (worker_drain.NAME, worker_drain.DEFAULT_RECORDS, worker_drain.run_worker_drain),
    (worker_latency.NAME, worker_latency.DEFAULT_RECORDS, _latency),
    (worker_memory.NAME, worker_memory.DEFAULT_RECORDS, _memory),
    (
        worker_risk_cost.NAME,
        worker_risk_cost.DEFAULT_RECORDS,
        worker_risk_cost.run_worker_risk_cost,
    ),
)
