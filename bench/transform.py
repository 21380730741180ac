"""``transform``: the normalizer's per-record work against parsing the raw record alone.

Subject: ``RawPayTraceTransaction.model_validate_json`` + ``to_payment`` + ``model_dump_json``
(what ``agents/normalizer`` does per event). Baseline: ``model_validate_json`` only, the
least any consumer of the raw topic must do. The ratio is the share of parse-only speed the
full transform keeps.
"""

from __future__ import annotations

from bench.records import raw_records
from bench.result import BenchResult, Sample, cpu_metric, rate_metric, timed
from schemas.raw import RawPayTraceTransaction
from stream.mapping import Mapping, load_mapping
from stream.transform import to_payment

NAME = "transform"
DEFAULT_RECORDS = 20_000


def parse_only(values: list[bytes]) -> Sample:
    sample = Sample(len(values))
    with timed(sample):
        for value in values:
            RawPayTraceTransaction.model_validate_json(value)
    return sample


def normalize(values: list[bytes], mapping: Mapping) -> Sample:
    sample = Sample(len(values))
    with timed(sample):
        for value in values:
            raw = RawPayTraceTransaction.model_validate_json(value)
            to_payment(raw, mapping).model_dump_json()
    return sample


def run_transform(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    values = raw_records(records)
    mapping = load_mapping()
    normalize(values[:50], mapping)  # warm-up: zoneinfo and regex caches, pydantic first calls
    subject: list[Sample] = []
    baseline: list[Sample] = []
    for rep in range(repeats):
        # Alternate the order so neither side always runs on a warmer (or hotter) machine.
        if rep % 2:
            subject.append(normalize(values, mapping))
            baseline.append(parse_only(values))
        else:
            baseline.append(parse_only(values))
            subject.append(normalize(values, mapping))
    return BenchResult(
        name=NAME,
        subject="parse + to_payment + Payment.model_dump_json",
        baseline="RawPayTraceTransaction.model_validate_json only",
        records=records,
        repeats=repeats,
        metrics=[rate_metric(subject, baseline), cpu_metric(subject, baseline)],
        notes={"bytes_per_record": round(sum(map(len, values)) / max(len(values), 1))},
    )
