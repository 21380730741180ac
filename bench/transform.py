"""``transform``: the normalizer's per-record work against parsing the raw record alone.

Subject: ``RawPayTraceTransaction.model_validate_json`` + ``to_payment`` + ``model_dump_json``
(what ``agents/normalizer`` does per event). Baseline: ``model_validate_json`` only, the
least any consumer of the raw topic must do. The ratio is the share of parse-only speed the
full transform keeps.

Both sides take turns on small chunks of the same records, so a load change on the machine
hits both alike instead of skewing whichever side ran at the time.
"""

from __future__ import annotations

from bench.records import raw_records
from bench.result import BenchResult, Sample, cpu_metric, rate_metric, timed
from schemas.raw import RawPayTraceTransaction
from stream.mapping import Mapping, load_mapping
from stream.transform import to_payment

NAME = "transform"
DEFAULT_RECORDS = 20_000
CHUNK = 250


def parse_only(values: list[bytes], sample: Sample) -> None:
    with timed(sample):
        for value in values:
            RawPayTraceTransaction.model_validate_json(value)


def normalize(values: list[bytes], mapping: Mapping, sample: Sample) -> None:
    with timed(sample):
        for value in values:
            raw = RawPayTraceTransaction.model_validate_json(value)
            to_payment(raw, mapping).model_dump_json()


def one_run(values: list[bytes], mapping: Mapping, rep: int = 0) -> tuple[Sample, Sample]:
    """(subject, baseline) over all ``values``, interleaved chunk by chunk."""
    subject, baseline = Sample(len(values)), Sample(len(values))
    for turn, start in enumerate(range(0, len(values), CHUNK)):
        chunk = values[start : start + CHUNK]
        if (turn + rep) % 2:
            normalize(chunk, mapping, subject)
            parse_only(chunk, baseline)
        else:
            parse_only(chunk, baseline)
            normalize(chunk, mapping, subject)
    return subject, baseline


def run_transform(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    values = raw_records(records)
    mapping = load_mapping()
    one_run(values[:50], mapping)  # warm-up: zoneinfo and regex caches, pydantic first calls
    runs = [one_run(values, mapping, rep) for rep in range(repeats)]
    subject = [s for s, _ in runs]
    baseline = [b for _, b in runs]
    return BenchResult(
        name=NAME,
        subject="parse + to_payment + Payment.model_dump_json",
        baseline="RawPayTraceTransaction.model_validate_json only",
        records=records,
        repeats=repeats,
        metrics=[rate_metric(subject, baseline), cpu_metric(subject, baseline)],
        notes={
            "bytes_per_record": round(sum(map(len, values)) / max(len(values), 1)),
            "interleaved_chunk": CHUNK,
        },
    )
