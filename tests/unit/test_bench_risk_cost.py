"""``worker_risk_cost``: when a side counts as drained, and that it is registered."""

from __future__ import annotations

import asyncio
from typing import Any

from bench import worker_risk_cost as cost
from bench import worker_suite
from bench.worker_risk_cost import ACTIONS, KEYER, NORMALIZER, SCORER, SINKS, Side


class FakeRun:
    def __init__(self, scores: int) -> None:
        self.scores = scores

    async def end_offsets(self, logical: str) -> int:
        assert logical == "payments_risk"
        return self.scores


def _finished(side: Side, done: dict[str, float], keyed: float, scores: int = 0) -> bool:
    run: Any = FakeRun(scores)
    return asyncio.run(cost.finished(run, side, done, keyed))


def _done(
    sinks: float, keyer: float = 0, scorer: float = 0, actions: float = 0
) -> dict[str, float]:
    risk = {KEYER: keyer, SCORER: scorer, ACTIONS: actions}
    return {NORMALIZER: sinks, **dict.fromkeys(SINKS, sinks), **risk}


def test_without_scoring_the_payment_sinks_end_the_side() -> None:
    side = Side(scoring=False, records=10)
    assert not _finished(side, _done(9), keyed=0)
    assert _finished(side, _done(10), keyed=0)


def test_with_scoring_every_risk_flow_must_be_through() -> None:
    side = Side(scoring=True, records=10)
    assert not _finished(side, _done(10), keyed=0)  # the keyer has not read every payment
    assert not _finished(side, _done(10, keyer=10, scorer=4), keyed=5)
    # the scorer published 6 scores for 5 events (a burst scored again): the sink needs all 6
    assert not _finished(side, _done(10, keyer=10, scorer=5, actions=5), keyed=5, scores=6)
    assert _finished(side, _done(10, keyer=10, scorer=5, actions=6), keyed=5, scores=6)


def test_registered_with_the_worker_benchmarks() -> None:
    names = {name: records for name, records, _ in worker_suite.RUNNERS}
    assert names[cost.NAME] == cost.DEFAULT_RECORDS


def test_per_payment_figures() -> None:
    side = Side(scoring=True, records=2_000, cpu_seconds=3.0, seconds=40.0)
    assert side.cpu_us_per_payment == 1_500.0
    assert side.rate == 50.0
