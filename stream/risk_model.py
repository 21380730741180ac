"""The risk score: weighted rules on the features, plus an online anomaly detector that
learns the merchant's traffic as it streams (river's Half-Space Trees).

Score = 1 - (1 - rules) * (1 - ANOMALY_WEIGHT * anomaly), rules = 1 - prod(1 - weight * strength)
(a noisy-OR: each rule alone can reach its weight, several together approach 1). The reasons
are the largest contributions, in words.

The detector's learned state is exactly the observations of its previous complete window and
of the current one (Half-Space Trees keep mass counts of those two windows only; the trees
themselves are fixed by the seed and the feature names). ``Detector.snapshot`` writes those
observations (rounded, and learned rounded) and the score calibration as text;
``Detector.restore`` replays them into a fresh model and gives the same scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from river.anomaly import HalfSpaceTrees

N_TREES, HEIGHT, WINDOW, SEED = 5, 6, 128, 42
ANOMALY_WEIGHT = 0.5
ANOMALY_WARMUP = 2 * WINDOW  # observations before the detector has a say
TOP_REASONS = 3
# What the detector sees, in the order a snapshot stores each observation.
FEATURE_NAMES: tuple[str, ...] = ("amount", "avs", "count_1h", "count_1m", "csc", "first")
FEATURE_NAMES += ("night", "ratio", "small", "streak")


def _clamp(value: float) -> float:
    return 0.0 if not value > 0 else 1.0 if value > 1 else value


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float
    strength: Callable[[dict[str, float]], float]
    reason: Callable[[dict[str, float]], str]


def _amount_outlier(f: dict[str, float]) -> float:
    if f["history"] < 2:
        return 0.0
    return max(_clamp((f["amount_z"] - 4) / 6), _clamp((f["amount_ratio"] - 2) / 4))


RULES = (
    Rule(
        "card_testing",
        0.95,
        lambda f: _clamp((f["small_10m"] - 1) / 3),
        lambda f: (
            f"card testing: {f['small_10m']:.0f} small declines or authorizations in 10 minutes"
        ),
    ),
    Rule(
        "velocity_1m",
        0.8,
        lambda f: _clamp((f["count_1m"] - 1) / 2),
        lambda f: f"{f['count_1m']:.0f} payments from this customer in one minute",
    ),
    Rule(
        "velocity_1h",
        0.7,
        lambda f: _clamp((f["count_1h"] - 2) / 4),
        lambda f: (
            f"{f['count_1h']:.0f} payments ({f['amount_1h']:.2f}) from this customer in one hour"
        ),
    ),
    Rule(
        "decline_streak",
        0.8,
        lambda f: _clamp((f["decline_streak"] - 1) / 3),
        lambda f: f"{f['decline_streak']:.0f} declines in a row",
    ),
    Rule(
        "amount_outlier",
        0.85,
        _amount_outlier,
        lambda f: f"amount {f['amount']:.2f} is {f['amount_ratio']:.1f}x this customer's usual",
    ),
    Rule(
        "new_customer_high_amount",
        0.75,
        lambda f: f["new_high_amount"],
        lambda f: f"first payment of a new customer, for {f['amount']:.2f}",
    ),
    Rule(
        "csc_mismatch",
        0.5,
        lambda f: f["csc_mismatch"],
        lambda f: "card security code did not match",
    ),
    Rule(
        "avs_mismatch",
        0.4,
        lambda f: f["avs_mismatch"],
        lambda f: "billing address did not match (AVS)",
    ),
    Rule(
        "refund_ratio",
        0.6,
        lambda f: _clamp((f["refund_ratio"] - 0.5) / 0.5),
        lambda f: f"refunds are {100 * f['refund_ratio']:.0f}% of this customer's sales",
    ),
    Rule("night", 0.1, lambda f: f["night"], lambda f: "made between midnight and 5 am local"),
)


def detector_input(f: dict[str, float]) -> dict[str, float]:
    """Features squashed into [0, 1] (Half-Space Trees' default limits), rounded so a
    snapshot holds exactly what was learned."""
    x = {
        "count_1m": f["count_1m"] / (f["count_1m"] + 2),
        "count_1h": f["count_1h"] / (f["count_1h"] + 5),
        "amount": min(math.log1p(f["amount"]) / math.log1p(100_000), 1.0),
        "ratio": f["amount_ratio"] / (f["amount_ratio"] + 3),
        "streak": f["decline_streak"] / (f["decline_streak"] + 2),
        "small": f["small_10m"] / (f["small_10m"] + 2),
        "avs": f["avs_mismatch"],
        "csc": f["csc_mismatch"],
        "night": f["night"],
        "first": f["first_seen"],
    }
    return {k: round(_clamp(v), 3) for k, v in x.items()}


@dataclass
class Detector:
    """Half-Space Trees plus what restores them, and a running calibration of their scores
    (an EW mean and variance: the strength is how far a score stands out from the usual)."""

    model: HalfSpaceTrees = field(
        default_factory=lambda: HalfSpaceTrees(
            n_trees=N_TREES, height=HEIGHT, window_size=WINDOW, seed=SEED
        )
    )
    previous: list[list[float]] = field(default_factory=list)
    current: list[list[float]] = field(default_factory=list)
    seen: int = 0
    mean: float = 0.0
    var: float = 0.0

    def score_and_learn(self, x: dict[str, float]) -> float:
        """The strength in [0, 1] of ``x``'s anomaly, then learn it."""
        raw = float(self.model.score_one(x)) if self.seen >= ANOMALY_WARMUP else 0.0
        strength = 0.0
        if self.seen >= ANOMALY_WARMUP:
            spread = math.sqrt(max(self.var, 1e-4))
            strength = _clamp(((raw - self.mean) / spread - 2) / 4)
            delta = raw - self.mean
            self.mean += 0.01 * delta
            self.var = 0.99 * (self.var + 0.01 * delta * delta)
        elif self.seen >= WINDOW:  # first window done: calibrate before having a say
            self.mean, self.var = _calibrate(self.model, x, self.seen - WINDOW, self.mean, self.var)
        self._learn(x)
        return strength

    def _learn(self, x: dict[str, float]) -> None:
        self.model.learn_one(x)
        self.current.append([x[k] for k in FEATURE_NAMES])
        self.seen += 1
        if len(self.current) == WINDOW:
            self.previous, self.current = self.current, []

    def snapshot(self) -> str:
        return orjson.dumps(
            {
                "names": FEATURE_NAMES,
                "previous": self.previous,
                "current": self.current,
                "seen": self.seen,
                "mean": self.mean,
                "var": self.var,
            }
        ).decode()

    @classmethod
    def restore(cls, text: str | bytes | None) -> Detector:
        detector = cls()
        if not text:
            return detector
        try:
            data = orjson.loads(text)
            names = data["names"]
            for row in [*data["previous"], *data["current"]]:
                detector._learn(dict(zip(names, row, strict=True)))
            detector.seen = int(data["seen"])
            detector.mean, detector.var = float(data["mean"]), float(data["var"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls()  # an unreadable snapshot: learn again from scratch
        return detector


def _calibrate(
    model: HalfSpaceTrees, x: dict[str, float], n: int, mean: float, var: float
) -> tuple[float, float]:
    raw = float(model.score_one(x))
    alpha = 1.0 / (n + 1)
    delta = raw - mean
    mean += alpha * delta
    var = (1 - alpha) * (var + alpha * delta * delta)
    return mean, var


@dataclass(frozen=True)
class Score:
    score: float
    reasons: tuple[str, ...]
    contributions: dict[str, float]


def score(features: dict[str, float], anomaly: float = 0.0) -> Score:
    """Rules and the detector's strength -> a score in [0, 1] and its top reasons."""
    parts: dict[str, float] = {}
    words: dict[str, str] = {}
    keep = 1.0
    for rule in RULES:
        part = rule.weight * _clamp(rule.strength(features))
        if part > 0:
            parts[rule.name], words[rule.name] = part, rule.reason(features)
            keep *= 1 - part
    if anomaly > 0:
        parts["anomaly"] = ANOMALY_WEIGHT * _clamp(anomaly)
        words["anomaly"] = "unusual for this merchant's traffic (anomaly detector)"
        keep *= 1 - parts["anomaly"]
    value = _clamp(1 - keep)
    top = sorted(parts, key=lambda n: -parts[n])[:TOP_REASONS]
    return Score(round(value, 4), tuple(words[n] for n in top if parts[n] >= 0.05), parts)
