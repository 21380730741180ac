"""The risk score: weighted rules on the features, plus an online anomaly detector that
learns the merchant's traffic as it streams (river's Half-Space Trees).

Score = 1 - (1 - rules) * (1 - ANOMALY_WEIGHT * anomaly), rules = 1 - prod(1 - weight * strength)
(a noisy-OR: each rule alone can reach its weight, several together approach 1). The reasons
are the largest contributions, in words; only those are formatted.

The detector sees a compact vector (``VECTOR``: ten numbers in [0, 1], keyed by position).
Its learned state is exactly the observations of its previous complete window and of the
current one (Half-Space Trees keep mass counts of those two windows only; the trees are fixed
by the seed and the vector's keys). ``Detector.snapshot`` writes the current window (and the
score calibration), ``Detector.snapshot_previous`` the previous one, which changes only when a
window fills; ``Detector.restore`` replays them into a fresh model and gives the same scores.
Floats go through orjson unrounded, and orjson writes the shortest text that reads back equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from river.anomaly import HalfSpaceTrees

# Two trees of height 3: the detector adds little on the labelled traffic, and these held its
# precision, recall and ROC AUC on the tuned seeds at half the walk of 3 x 4 (bench/README.md).
N_TREES, HEIGHT, WINDOW, SEED = 2, 3, 128, 42
ANOMALY_WEIGHT = 0.5
ANOMALY_WARMUP = 2 * WINDOW  # observations before the detector has a say
TOP_REASONS = 3
LOG_CAP = math.log1p(100_000)
# What each position of the detector's vector holds (a snapshot row is in this order).
VECTOR: tuple[str, ...] = ("amount", "ratio", "count_1m", "count_1h", "small", "streak", "avs")
VECTOR += ("csc", "night", "first")
SNAPSHOT_VERSION = 3  # 3: two trees of height 3 (a calibration of 3 x 4 does not carry over)
MAX_SCORE = N_TREES * WINDOW * (2 ** (HEIGHT + 1) - 1)  # river's HalfSpaceTrees._max_score


def _clamp(value: float) -> float:
    return 0.0 if not value > 0 else 1.0 if value > 1 else value


@dataclass(frozen=True)
class Rule:
    name: str
    weight: float
    reason: Callable[[dict[str, float]], str]


RULES = (
    Rule(
        "card_testing",
        0.95,
        lambda f: (
            f"card testing: {f['small_10m']:.0f} small declines or authorizations in 10 minutes"
        ),
    ),
    Rule(
        "velocity_1m",
        0.8,
        lambda f: f"{f['count_1m']:.0f} payments from this customer in one minute",
    ),
    Rule(
        "velocity_1h",
        0.7,
        lambda f: (
            f"{f['count_1h']:.0f} payments ({f['amount_1h']:.2f}) from this customer in one hour"
        ),
    ),
    Rule("decline_streak", 0.8, lambda f: f"{f['decline_streak']:.0f} declines in a row"),
    Rule(
        "amount_outlier",
        0.85,
        lambda f: f"amount {f['amount']:.2f} is {f['amount_ratio']:.1f}x this customer's usual",
    ),
    Rule(
        "new_customer_high_amount",
        0.75,
        lambda f: f"first payment of a new customer, for {f['amount']:.2f}",
    ),
    Rule("csc_mismatch", 0.5, lambda f: "card security code did not match"),
    Rule("avs_mismatch", 0.4, lambda f: "billing address did not match (AVS)"),
    Rule(
        "refund_ratio",
        0.6,
        lambda f: f"refunds are {100 * f['refund_ratio']:.0f}% of this customer's sales",
    ),
    Rule("night", 0.1, lambda f: "made between midnight and 5 am local"),
)


def strengths(f: dict[str, float]) -> tuple[float, ...]:
    """Each rule's strength in [0, 1], in ``RULES`` order (one pass, no call per rule that
    cannot fire: most payments fire none)."""
    small, streak, refunds = f["small_10m"], f["decline_streak"], f["refund_ratio"]
    amount_outlier = velocity_1m = velocity_1h = 0.0
    if f["history"] >= 2:
        z, ratio = f["amount_z"], f["amount_ratio"]
        if z > 4 or ratio > 2:
            amount_outlier = max(_clamp((z - 4) / 6), _clamp((ratio - 2) / 4))
    if not f["refund"]:  # a refund soon after its sale is no burst: refund_ratio judges it
        # An earlier attempt that went through weighs fully; a decline and its retry are normal.
        velocity_1m = _clamp(f["prior_approved_1m"] + 0.34 * f["prior_declined_1m"])
        count = f["count_1h"]
        if count > 2:
            velocity_1h = _clamp((count - 2) / 4)
    return (
        _clamp((small - 1) / 2) if small > 1 else 0.0,
        velocity_1m,
        velocity_1h,
        _clamp((streak - 1) / 3) if streak > 1 else 0.0,
        amount_outlier,
        f["new_high_amount"],
        f["csc_mismatch"],
        f["avs_mismatch"],
        _clamp((refunds - 0.5) / 0.5) if refunds > 0.5 else 0.0,
        f["night"],
    )


RULE_BY_NAME = {rule.name: rule for rule in RULES}
# Rules that say "many attempts in a short time": a payment they flag takes the attempts of
# its burst that came before it along (agents/risk_scorer.py).
BURST_RULES = frozenset({"card_testing", "velocity_1m", "velocity_1h", "decline_streak"})
ANOMALY_REASON = "unusual for this merchant's traffic (anomaly detector)"


# The counts' squashed values, rounded once here: a window holds at most MAX_EVENTS (64).
_BY2 = {float(n): round(n / (n + 2), 4) for n in range(65)}
_BY5 = {float(n): round(n / (n + 5), 4) for n in range(65)}


def detector_input(f: dict[str, float]) -> list[float]:
    """The compact vector (``VECTOR``'s order): features squashed into [0, 1] (Half-Space
    Trees' default limits), rounded to 4 decimals: a snapshot then holds exactly what was
    learned, and no digit run in it is long enough for a card scanner to read as a card
    number (6/11 is 0.5454545454545454)."""
    c1m, c1h, ratio = f["count_1m"], f["count_1h"], f["amount_ratio"]
    small, streak = f["small_10m"], f["decline_streak"]
    amount = math.log1p(f["amount"]) / LOG_CAP
    return [
        round(amount, 4) if amount < 1.0 else 1.0,
        round(ratio / (ratio + 3), 4) if ratio != 1.0 else 0.25,
        _BY2[c1m] if c1m in _BY2 else round(c1m / (c1m + 2), 4),
        _BY5[c1h] if c1h in _BY5 else round(c1h / (c1h + 5), 4),
        _BY2[small] if small in _BY2 else round(small / (small + 2), 4),
        _BY2[streak] if streak in _BY2 else round(streak / (streak + 2), 4),
        f["avs_mismatch"],
        f["csc_mismatch"],
        f["night"],
        f["first_seen"],
    ]


def _walk(model: HalfSpaceTrees, x: list[float], scoring: bool) -> float:
    """River's ``score_one`` (when ``scoring``) then ``learn_one`` of ``x`` on the model's own
    trees, in one walk per tree (both follow the same path: ``x`` has every feature), and the
    window pivot. The masses are integers, so the score is exactly river's (in the first window
    river says 0 where this says 1: the detector asks only after it). It reads river
    0.26's tree internals (pinned in pyproject.toml; tests/unit/test_risk_walk.py compares)."""
    height, limit = model.height, 0.1 * model.window_size
    total = 0
    for node in model.trees:
        weight, adding = 1, scoring
        for _ in range(height):
            node.l_mass += 1
            if adding:
                mass = node.r_mass
                total += mass * weight
                adding = mass >= limit
                weight <<= 1
            children = node.children
            node = children[0] if x[node.feature] < node.threshold else children[1]
        node.l_mass += 1
        if adding:
            total += node.r_mass * weight
    model.counter += 1
    if model.counter == model.window_size:
        for nodes in model._tree_nodes:
            for node in nodes:
                node.r_mass = node.l_mass
                node.l_mass = 0
        model._first_window = False
        model.counter = 0
    return 1 - total / MAX_SCORE


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
    rolled: bool = False  # the previous window changed since the last snapshot_previous

    def score_and_learn(self, x: list[float]) -> float:
        """The strength in [0, 1] of ``x``'s anomaly, then learn it."""
        strength = 0.0
        if self.seen >= ANOMALY_WARMUP:
            raw = _walk(self.model, x, True)
            spread = math.sqrt(self.var if self.var > 1e-4 else 1e-4)
            strength = _clamp(((raw - self.mean) / spread - 2) / 4)
            delta = raw - self.mean
            # Rounded as stored (see detector_input), so a restore continues exactly.
            self.mean = round(self.mean + 0.01 * delta, 6)
            self.var = round(0.99 * (self.var + 0.01 * delta * delta), 8)
        elif self.seen >= WINDOW:  # first window done: calibrate before having a say
            raw = _walk(self.model, x, True)
            self.mean, self.var = _calibrate(raw, self.seen - WINDOW, self.mean, self.var)
        else:
            self._learn(x)
            return strength
        self._keep(x)
        return strength

    def _learn(self, x: list[float]) -> None:
        if self.model.trees:
            _walk(self.model, x, False)
        else:  # the first observation builds the trees (their limits: the vector's keys)
            self.model.learn_one(dict(enumerate(x)))
        self._keep(x)

    def _keep(self, x: list[float]) -> None:
        self.current.append(x)
        self.seen += 1
        if len(self.current) == WINDOW:
            self.previous, self.current = self.current, []
            self.rolled = True

    def snapshot(self) -> str:
        """The current window and the calibration: written after every batch."""
        return orjson.dumps(
            [SNAPSHOT_VERSION, self.seen, self.mean, self.var, self.current]
        ).decode()

    def snapshot_previous(self) -> str:
        """The previous complete window: written only when a window filled."""
        self.rolled = False
        return orjson.dumps([SNAPSHOT_VERSION, self.previous]).decode()

    @classmethod
    def restore(cls, current: str | bytes | None, previous: str | bytes | None = None) -> Detector:
        detector = cls()
        if not current:
            return detector
        try:
            version, seen, mean, var, rows = orjson.loads(current)
            old_version, old_rows = orjson.loads(previous) if previous else (version, [])
            if version != SNAPSHOT_VERSION or old_version != SNAPSHOT_VERSION:
                return cls()
            for row in [*old_rows, *rows]:
                if len(row) != len(VECTOR):
                    return cls()
                detector._learn([float(v) for v in row])
            detector.seen, detector.mean, detector.var = int(seen), float(mean), float(var)
            detector.rolled = False
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return cls()  # an unreadable snapshot: learn again from scratch
        return detector


def _calibrate(raw: float, n: int, mean: float, var: float) -> tuple[float, float]:
    alpha = 1.0 / (n + 1)
    delta = raw - mean
    mean += alpha * delta
    var = (1 - alpha) * (var + alpha * delta * delta)
    return round(mean, 6), round(var, 8)


@dataclass(frozen=True)
class Score:
    score: float
    reasons: tuple[str, ...]
    contributions: dict[str, float]

    @property
    def burst(self) -> bool:
        """The largest contribution says "many attempts in a short time"."""
        if not self.contributions:
            return False
        top = max(self.contributions, key=self.contributions.__getitem__)
        return top in BURST_RULES


def score(features: dict[str, float], anomaly: float = 0.0) -> Score:
    """Rules and the detector's strength -> a score in [0, 1] and its top reasons."""
    found = strengths(features)
    parts: dict[str, float] = {}
    if not anomaly > 0 and not any(found):  # most payments: no rule fires
        return Score(0.0, (), parts)
    keep = 1.0
    for rule, strength in zip(RULES, found, strict=True):
        if strength > 0:
            part = parts[rule.name] = rule.weight * (strength if strength < 1 else 1.0)
            keep *= 1 - part
    if anomaly > 0:
        parts["anomaly"] = part = ANOMALY_WEIGHT * _clamp(anomaly)
        keep *= 1 - part
    value = _clamp(1 - keep)
    if not parts:
        return Score(round(value, 4), (), parts)
    top = sorted(parts, key=parts.__getitem__, reverse=True)[:TOP_REASONS]
    reasons = tuple(
        ANOMALY_REASON if name == "anomaly" else RULE_BY_NAME[name].reason(features)
        for name in top
        if parts[name] >= 0.05
    )
    return Score(round(value, 4), reasons, parts)
