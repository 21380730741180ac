"""What a benchmark reports: per metric, both sides' medians and their ratio."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

S = TypeVar("S")  # one repetition's measurements of one side


@dataclass(frozen=True)
class Metric:
    """One quantity measured for both sides; values are medians over the repetitions."""

    name: str
    unit: str
    subject: float
    baseline: float
    higher_is_better: bool = True
    # Every repetition's value, to judge the noise behind a median.
    subject_runs: tuple[float, ...] = ()
    baseline_runs: tuple[float, ...] = ()

    @classmethod
    def of_runs(
        cls,
        name: str,
        unit: str,
        subject: list[float],
        baseline: list[float],
        higher_is_better: bool = True,
    ) -> Metric:
        return cls(
            name,
            unit,
            median(subject),
            median(baseline),
            higher_is_better,
            tuple(subject),
            tuple(baseline),
        )

    @classmethod
    def of_sides(
        cls,
        name: str,
        unit: str,
        subject: Sequence[S],
        baseline: Sequence[S],
        value: Callable[[S], float],
        higher_is_better: bool = True,
    ) -> Metric:
        """``of_runs`` with one quantity read from each repetition of both sides."""
        return cls.of_runs(
            name, unit, [value(s) for s in subject], [value(s) for s in baseline], higher_is_better
        )

    @property
    def ratio(self) -> float:
        """subject / baseline (inf when the baseline is zero)."""
        return self.subject / self.baseline if self.baseline else float("inf")

    @property
    def ratio_runs(self) -> tuple[float, ...]:
        """Per-repetition ratios (the sides of one repetition ran interleaved): the spread."""
        return tuple(
            s / b if b else float("inf")
            for s, b in zip(self.subject_runs, self.baseline_runs, strict=True)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "subject": self.subject,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "subject_runs": list(self.subject_runs),
            "baseline_runs": list(self.baseline_runs),
            "ratio_runs": list(self.ratio_runs),
        }


@dataclass(frozen=True)
class BenchResult:
    name: str
    subject: str  # what is measured, in words
    baseline: str
    records: int
    repeats: int
    metrics: list[Metric]
    notes: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "baseline": self.baseline,
            "records": self.records,
            "repeats": self.repeats,
            "metrics": [m.as_dict() for m in self.metrics],
            "notes": self.notes,
        }


@dataclass
class Sample:
    """One timed run: wall and CPU seconds (this process only) for ``records`` records."""

    records: int
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_seconds * 1e6 / self.records if self.records else 0.0


@contextmanager
def timed(sample: Sample) -> Iterator[Sample]:
    """Adds the block's wall and CPU time to ``sample``: several blocks may make one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield sample
    finally:
        sample.seconds += time.perf_counter() - wall
        sample.cpu_seconds += time.process_time() - cpu


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def rate_metric(subject: list[Sample], baseline: list[Sample]) -> Metric:
    return Metric.of_runs(
        "throughput", "records/s", [s.rate for s in subject], [s.rate for s in baseline]
    )


def cpu_metric(subject: list[Sample], baseline: list[Sample]) -> Metric:
    """CPU of this process only: for the broker benchmark, the client side of the pipeline."""
    return Metric.of_runs(
        "cpu",
        "CPU us/record",
        [s.cpu_us_per_record for s in subject],
        [s.cpu_us_per_record for s in baseline],
        higher_is_better=False,
    )
