"""``risk``: the risk scorer's quality on labelled synthetic traffic, and its cost against the
normalizer's in the same run.

Quality (bench/risk_traffic.py; not a ratio, it needs no baseline): precision, recall and
ROC AUC at the mapping's ``risk.review_threshold``, per payment, on seeds the rules were not
tuned on (``HELD_OUT_SEEDS``; the rules were tuned on ``TUNED_SEEDS`` only). A payment's score
is the last one published for it (a burst's start is scored again when the burst is seen);
``recall_at_arrival`` counts only the score each payment got when it came.

Cost. Subject: the keyer and the scoring stage per payment, as ``agents/risk_scorer.py`` does
them: the keyer's parse (``RiskInput``) and customer key, the scorer's parse (orjson and
explicit checks, ``stream.risk_event.read_event``), then
``stream.risk_engine.RiskEngine.score`` (state held in memory, incremental windows, features,
detector score and learn, rules, the score's JSON), and once per chunk of 250 (a Faust batch)
the changed customers' and detectors' state written to a dict standing in for the table.
Baseline: the normalizer (``RawPayTraceTransaction.model_validate_json`` + ``to_payment`` +
``Payment.model_dump_json``), the per-payment work the pipeline already does. The CPU ratio is
what scoring adds per payment (target: at most 0.2). The two sides take turns on chunks of
250, the order alternating.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from functools import cache

import orjson

from bench.records import raw_records
from bench.result import BenchResult, Sample, cpu_metric, rate_metric, timed
from bench.risk_traffic import PATTERNS, Labelled, generate
from bench.transform import normalize
from schemas.risk import RiskInput
from stream.mapping import load_mapping
from stream.risk_engine import RiskEngine, partition_of
from stream.risk_event import read_event
from stream.risk_features import Thresholds, event_fields, scored

NAME = "risk"
DEFAULT_RECORDS = 5_000
CHUNK = 250
PARTITIONS = 4
TUNED_SEEDS = (7, 8)  # what the rules' weights and thresholds were chosen on
HELD_OUT_SEEDS = (101, 102, 103, 104, 105)  # what the figures are reported on


class Scorer:
    """Keyer + scorer without Kafka: what RiskKeyer.process and PaymentRiskScorer do."""

    def __init__(self, review: float, limits: Thresholds) -> None:
        self.table: dict[bytes, str] = {}
        self.engine = RiskEngine(review, limits, PARTITIONS, self.table.get)

    def key(self, value: bytes) -> tuple[bytes, bytes] | None:
        """The keyer: the customer key and the scorer's record of a payment to score."""
        payment = RiskInput.model_validate_json(value)
        if not scored(payment):
            return None
        event = event_fields(payment)
        return str(event["customer"]).encode(), orjson.dumps(event)

    def score(self, key: bytes, event: bytes) -> list[tuple[str, bytes]]:
        """The scorer, reading the keyer's record from ``partition(key)`` as its ``decode``
        does (stream/risk_event.py)."""
        found = self.engine.score(_partition(key), read_event(event))
        return found.records if found else []

    def __call__(self, value: bytes) -> list[tuple[str, bytes]]:
        keyed = self.key(value)
        return self.score(*keyed) if keyed is not None else []

    def batch_done(self) -> None:
        self.table.update(self.engine.changes())


@cache
def _partition(key: bytes) -> int:
    # The keyer's producer computes it once per record; the normalizer's send, which the
    # baseline leaves out too, pays the same.
    return partition_of(key, PARTITIONS)


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return float("nan")
    rank_sum, index = 0.0, 0
    while index < len(ranked):
        end = index
        while end < len(ranked) and ranked[end][0] == ranked[index][0]:
            end += 1
        average_rank = (index + 1 + end) / 2
        rank_sum += average_rank * sum(1 for _, label in ranked[index:end] if label)
        index = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def evaluate(traffic: list[Labelled], threshold: float, limits: Thresholds) -> dict[str, float]:
    scorer = Scorer(threshold, limits)
    final: dict[str, float] = {}
    arrival: list[float] = []
    for index, t in enumerate(traffic):
        records = scorer(t.payment.model_dump_json().encode())
        for tx, body in records:
            final[tx] = _score_of(body)
        arrival.append(final.get(t.payment.transaction_id, 0.0))
        if index % CHUNK == CHUNK - 1:
            scorer.batch_done()
    scores = [final.get(t.payment.transaction_id, 0.0) for t in traffic]
    labels = [t.fraud for t in traffic]
    found = _quality(scores, labels, threshold)
    found["recall_at_arrival"] = _quality(arrival, labels, threshold)["recall"]
    for pattern in PATTERNS:
        came = [
            s >= threshold for s, t in zip(arrival, traffic, strict=True) if t.pattern == pattern
        ]
        found[f"recall_at_arrival_{pattern}"] = sum(came) / len(came) if came else 0.0
        hits = [
            s >= threshold for s, t in zip(scores, traffic, strict=True) if t.pattern == pattern
        ]
        found[f"recall_{pattern}"] = sum(hits) / len(hits) if hits else 0.0
    return found


def _score_of(body: bytes) -> float:
    # The score's JSON, as the action sink reads it; only the score is needed here.
    return float(orjson.loads(body)["score"])


def _quality(scores: list[float], labels: list[bool], threshold: float) -> dict[str, float]:
    flagged = [s >= threshold for s in scores]
    tp = sum(f and y for f, y in zip(flagged, labels, strict=True))
    fp = sum(f and not y for f, y in zip(flagged, labels, strict=True))
    fn = sum(y and not f for f, y in zip(flagged, labels, strict=True))
    return {
        "payments": len(scores),
        "positives": sum(labels),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "roc_auc": roc_auc(scores, labels),
        "false_positive_rate": fp / max(len(labels) - sum(labels), 1),
    }


def quality(seeds: tuple[int, ...], threshold: float, limits: Thresholds) -> dict[str, float]:
    """Each figure's median over ``seeds``, and the worst seed's precision and recall."""
    runs = [evaluate(generate(seed=seed), threshold, limits) for seed in seeds]
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out["precision_min"] = min(r["precision"] for r in runs)
    out["recall_min"] = min(r["recall"] for r in runs)
    return out


def one_run(
    payments: list[bytes], raws: list[bytes], review: float, limits: Thresholds, rep: int
) -> tuple[Sample, Sample, Sample]:
    """(scorer, keyer + scorer, normalizer) samples of one repetition."""
    mapping = load_mapping()
    scorer = Scorer(review, limits)
    subject, keyer, baseline = Sample(len(payments)), Sample(len(payments)), Sample(len(raws))
    for turn, start in enumerate(range(0, len(payments), CHUNK)):
        chunk, raw_chunk = payments[start : start + CHUNK], raws[start : start + CHUNK]

        def scoring(chunk: list[bytes] = chunk) -> None:
            with timed(keyer):
                keyed = [scorer.key(value) for value in chunk]
            with timed(subject):
                for found in keyed:
                    if found is not None:
                        scorer.score(*found)
                scorer.batch_done()

        if (turn + rep) % 2:
            scoring()
            normalize(raw_chunk, mapping, baseline)
        else:
            normalize(raw_chunk, mapping, baseline)
            scoring()
    both = Sample(len(payments), subject.seconds + keyer.seconds)
    both.cpu_seconds = subject.cpu_seconds + keyer.cpu_seconds
    return subject, both, baseline


def run_risk(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    mapping = load_mapping()
    risk = mapping.risk
    limits = Thresholds(risk.small_amount, risk.high_amount)
    held_out = quality(HELD_OUT_SEEDS, risk.review_threshold, limits)
    traffic = generate(customers=max(records // 8, 1), seed=11)
    payments = [t.payment.model_dump_json().encode() for t in traffic][:records]
    payments += payments[: records - len(payments)]  # too few generated: score some twice
    raws = raw_records(len(payments))
    one_run(payments[:50], raws[:50], risk.review_threshold, limits, 0)  # warm-up
    runs = [one_run(payments, raws, risk.review_threshold, limits, rep) for rep in range(repeats)]
    subject = [s for s, _, _ in runs]
    with_keyer = [k for _, k, _ in runs]
    baseline = [b for _, _, b in runs]
    keyed_cpu = cpu_metric(with_keyer, baseline)
    return BenchResult(
        name=NAME,
        subject="risk scoring stage per payment (parse, state, features, detector, rules, "
        "JSON, state written per batch); cpu_with_keyer adds the keyer's parse and key",
        baseline="normalizer: parse raw + to_payment + Payment.model_dump_json",
        records=len(payments),
        repeats=repeats,
        metrics=[
            rate_metric(subject, baseline),
            cpu_metric(subject, baseline),
            replace(keyed_cpu, name="cpu_with_keyer"),
        ],
        notes={
            "threshold": risk.review_threshold,
            "quality_seeds": list(HELD_OUT_SEEDS),
            "tuned_on_seeds": list(TUNED_SEEDS),
            **{k: round(v, 4) for k, v in held_out.items()},
            "state_bytes_per_customer": round(_state_size(traffic, risk.review_threshold, limits)),
        },
    )


def _state_size(traffic: list[Labelled], review: float, limits: Thresholds) -> float:
    scorer = Scorer(review, limits)
    for t in traffic[:2000]:
        scorer(t.payment.model_dump_json().encode())
    scorer.batch_done()
    values = [v for k, v in scorer.table.items() if not k.startswith(b"~")]
    return sum(map(len, values)) / max(len(values), 1)
