"""The scorer's one walk per tree against river's own ``score_one`` then ``learn_one``."""

from __future__ import annotations

import random

from river.anomaly import HalfSpaceTrees

from stream.risk_model import HEIGHT, N_TREES, SEED, VECTOR, WINDOW, _walk


def test_one_walk_scores_and_learns_exactly_as_river() -> None:
    rng = random.Random(5)
    ours, theirs = (
        HalfSpaceTrees(n_trees=N_TREES, height=HEIGHT, window_size=WINDOW, seed=SEED)
        for _ in range(2)
    )
    first = [rng.random() for _ in VECTOR]
    ours.learn_one(dict(enumerate(first)))  # the first observation builds the trees
    theirs.learn_one(dict(enumerate(first)))
    # Over three windows (pivots included), with values on the trees' own thresholds too.
    thresholds = [
        n.threshold for t in theirs.trees for n in t.iter_dfs() if hasattr(n, "threshold")
    ]
    for n in range(3 * WINDOW + 7):
        x = [rng.choice(thresholds) if rng.random() < 0.2 else rng.random() for _ in VECTOR]
        expected = float(theirs.score_one(dict(enumerate(x))))
        theirs.learn_one(dict(enumerate(x)))
        # In the first window river answers 0; the detector asks only after it (1.0 here).
        assert _walk(ours, x, scoring=True) == (expected if n >= WINDOW - 1 else 1.0)
    masses = [[(n.l_mass, n.r_mass) for n in nodes] for nodes in ours._tree_nodes]
    assert masses == [[(n.l_mass, n.r_mass) for n in nodes] for nodes in theirs._tree_nodes]
    assert ours.counter == theirs.counter
