"""``risk``: the risk scorer's quality on labelled synthetic traffic, and its cost against the
normalizer's in the same run.

Quality (bench/risk_traffic.py; not a ratio, it needs no baseline): precision, recall and
ROC AUC at the mapping's ``risk.review_threshold``, per payment, and the share of injected
incidents with at least one payment flagged.

Cost. Subject: the scoring stage per payment as ``agents/risk_scorer.PaymentRiskScorer``
does it: parse the payment, read the customer's state from a table (a dict here), features,
detector score and learn, rules, the score's JSON, the state written back (and the
detector's snapshot once per chunk, as once per batch in the flow). Baseline: the normalizer
(``RawPayTraceTransaction.model_validate_json`` + ``to_payment`` + ``Payment.model_dump_json``),
the per-payment work the pipeline already does. The CPU ratio is what scoring adds per
payment (target: at most 0.2). The two sides take turns on chunks of 250.
"""

from __future__ import annotations

from functools import cache

from aiokafka.partitioner import murmur2

from bench.records import raw_records
from bench.result import BenchResult, Sample, cpu_metric, rate_metric, timed
from bench.risk_traffic import PATTERNS, Labelled, generate
from bench.transform import normalize
from schemas.payment import Payment
from schemas.risk import RiskScore
from stream.mapping import load_mapping
from stream.risk_features import CustomerState, Thresholds, customer_key, observe, scored
from stream.risk_model import Detector, detector_input, score

NAME = "risk"
DEFAULT_RECORDS = 5_000
CHUNK = 250
PARTITIONS = 4


class Scorer:
    """The scoring stage without Kafka: what PaymentRiskScorer.process and batch_done do."""

    def __init__(self, limits: Thresholds) -> None:
        self.table: dict[bytes, str] = {}
        self.detectors = [Detector() for _ in range(PARTITIONS)]
        self.limits = limits

    def __call__(self, value: bytes) -> float:
        payment = Payment.model_validate_json(value)
        if not scored(payment):
            return 0.0
        customer = customer_key(payment)
        key = customer.encode()
        state = CustomerState.loads(self.table.get(key))
        features = observe(state, payment, self.limits)
        detector = self.detectors[_partition(key)]
        result = score(features, detector.score_and_learn(detector_input(features)))
        RiskScore(
            transaction_id=payment.transaction_id,
            customer_key=customer,
            score=result.score,
            reasons=list(result.reasons),
            occurred_at=payment.occurred_at,
        ).model_dump_json()
        self.table[key] = state.dumps()
        return result.score

    def snapshot(self) -> None:
        for index, detector in enumerate(self.detectors):
            self.table[f"~model:{index}".encode()] = detector.snapshot()


@cache
def _partition(key: bytes) -> int:
    """As the producer's default partitioner places the keyer's output (once per customer)."""
    return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS


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
    scorer = Scorer(limits)
    scores = [scorer(t.payment.model_dump_json().encode()) for t in traffic]
    labels = [t.fraud for t in traffic]
    flagged = [s >= threshold for s in scores]
    tp = sum(f and y for f, y in zip(flagged, labels, strict=True))
    fp = sum(f and not y for f, y in zip(flagged, labels, strict=True))
    fn = sum(y and not f for f, y in zip(flagged, labels, strict=True))
    found: dict[str, float] = {
        "payments": len(traffic),
        "positives": sum(labels),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "roc_auc": roc_auc(scores, labels),
        "false_positive_rate": fp / max(len(labels) - sum(labels), 1),
    }
    for pattern in PATTERNS:
        hits = [f for f, t in zip(flagged, traffic, strict=True) if t.pattern == pattern]
        found[f"recall_{pattern}"] = sum(hits) / len(hits) if hits else 0.0
    return found


def one_run(
    payments: list[bytes], raws: list[bytes], limits: Thresholds, rep: int
) -> tuple[Sample, Sample]:
    mapping = load_mapping()
    scorer = Scorer(limits)
    subject, baseline = Sample(len(payments)), Sample(len(raws))
    for turn, start in enumerate(range(0, len(payments), CHUNK)):
        chunk, raw_chunk = payments[start : start + CHUNK], raws[start : start + CHUNK]

        def scoring(chunk: list[bytes] = chunk) -> None:
            with timed(subject):
                for value in chunk:
                    scorer(value)
                scorer.snapshot()

        if (turn + rep) % 2:
            scoring()
            normalize(raw_chunk, mapping, baseline)
        else:
            normalize(raw_chunk, mapping, baseline)
            scoring()
    return subject, baseline


def run_risk(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    mapping = load_mapping()
    risk = mapping.risk
    limits = Thresholds(risk.small_amount, risk.high_amount)
    quality = evaluate(generate(seed=7), risk.review_threshold, limits)
    traffic = generate(customers=max(records // 8, 1), seed=11)
    payments = [t.payment.model_dump_json().encode() for t in traffic][:records]
    payments += payments[: records - len(payments)]  # too few generated: score some twice
    raws = raw_records(len(payments))
    one_run(payments[:50], raws[:50], limits, 0)  # warm-up
    runs = [one_run(payments, raws, limits, rep) for rep in range(repeats)]
    subject = [s for s, _ in runs]
    baseline = [b for _, b in runs]
    return BenchResult(
        name=NAME,
        subject="risk scoring stage per payment (parse, state, features, detector, rules, dump)",
        baseline="normalizer: parse raw + to_payment + Payment.model_dump_json",
        records=len(payments),
        repeats=repeats,
        metrics=[rate_metric(subject, baseline), cpu_metric(subject, baseline)],
        notes={
            "threshold": risk.review_threshold,
            **{k: round(v, 4) for k, v in quality.items()},
            "state_bytes_per_customer": round(_state_size(traffic, limits)),
        },
    )


def _state_size(traffic: list[Labelled], limits: Thresholds) -> float:
    scorer = Scorer(limits)
    for t in traffic[:2000]:
        scorer(t.payment.model_dump_json().encode())
    values = [v for k, v in scorer.table.items() if not k.startswith(b"~")]
    return sum(map(len, values)) / max(len(values), 1)
