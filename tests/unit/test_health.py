"""The liveness decision: what /health says and when a worker gives up, on a fake clock."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import TopicPartition

from stream.health import Liveness, group_state

TP0 = TopicPartition("t.payments", 0)
TP1 = TopicPartition("t.payments", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def liveness(timeout: float = 120.0) -> tuple[Liveness, Clock]:
    clock = Clock()
    return Liveness(timeout, clock=clock), clock


def test_not_healthy_until_joined_then_ok() -> None:
    live, _clock = liveness()
    status, body = live.report()
    assert status == 503 and "not joined yet" in body["reasons"][0]
    live.group(True)
    assert live.report() == (200, {"status": "ok", "reasons": []})


def test_a_consumer_out_of_its_group_too_long_gives_up() -> None:
    live, clock = liveness()
    live.group(True)
    clock.now += 10
    live.group(False, "join failed: KafkaError()")
    clock.now += 100
    live.group(False, "join failed: KafkaError()")  # still out: the wait did not restart
    assert live.give_up() is None
    assert "join failed" in live.report()[1]["reasons"][0]
    clock.now += 21
    reason = live.give_up()
    assert reason is not None and "not in its group for over 120 s" in reason


def test_rejoining_in_time_is_recovery() -> None:
    live, clock = liveness()
    live.group(False, "rejoining")
    clock.now += 119
    live.group(True)
    clock.now += 1000
    assert live.give_up() is None
    assert live.report()[0] == 200


def test_a_partition_stuck_with_lag_is_reported_then_given_up_on() -> None:
    live, clock = liveness()
    live.group(True)
    live.partitions({TP0: 0}, [TP0, TP1])
    assert live.report()[0] == 200  # one look cannot tell a stall from a slow commit
    clock.now += 10
    live.partitions({TP0: 0}, [TP0, TP1])
    status, body = live.report()
    assert status == 503 and body["reasons"] == [
        "partition t.payments-0 stalled at offset 0 for 10 s"
    ]
    clock.now += 111
    live.partitions({TP0: 0}, [TP0, TP1])
    reason = live.give_up()
    assert reason is not None and "t.payments-0" in reason and "offset 0" in reason


def test_a_partition_that_moves_is_not_stalled() -> None:
    live, clock = liveness()
    live.group(True)
    for committed in range(0, 50, 5):  # always lagging, but moving
        live.partitions({TP0: committed}, [TP0])
        clock.now += 30
    assert live.give_up() is None and live.report()[0] == 200


def test_caught_up_or_reassigned_partitions_are_forgotten() -> None:
    live, clock = liveness()
    live.group(True)
    live.partitions({TP0: 3, TP1: 7}, [TP0, TP1])
    clock.now += 10
    live.partitions({TP1: 7}, [TP0, TP1])  # TP0 caught up
    live.assigned([TP0])  # TP1 went to another worker
    clock.now += 500
    assert live.give_up() is None and live.report()[0] == 200


def test_a_fatal_error_fails_at_once_and_timeout_zero_never_gives_up_otherwise() -> None:
    live, clock = liveness(timeout=0)
    live.group(False, "joining")
    clock.now += 10_000
    assert live.give_up() is None and live.report()[0] == 503
    live.fatal("consumer group coordination ended: KafkaError()")
    assert live.give_up() == "consumer group coordination ended: KafkaError()"
    assert live.report()[1]["status"] == "failing"


def _app(coordinator: Any, assignment: Any = "assigned") -> Any:
    subscription = SimpleNamespace(assignment=assignment)
    consumer = SimpleNamespace(
        _coordinator=coordinator, _subscription=SimpleNamespace(subscription=subscription)
    )
    return SimpleNamespace(consumer=SimpleNamespace(_thread=SimpleNamespace(_consumer=consumer)))


def _coordinator(task: Any, pending: Any = None, rejoin: bool = False, lost: bool = False) -> Any:
    rejoin_fut = SimpleNamespace(done=lambda: rejoin)
    return SimpleNamespace(
        _coordination_task=task,
        _pending_exception=pending,
        _rejoin_needed_fut=rejoin_fut,
        coordinator_id=None if lost else 1,
    )


async def test_group_state_reads_aiokafka_membership() -> None:
    running: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert group_state(_app(_coordinator(running))) == (True, "", None)
    assert group_state(_app(_coordinator(running), assignment=None))[:2] == (False, "joining")
    assert group_state(_app(_coordinator(running, rejoin=True)))[:2] == (False, "rejoining")
    lost = _app(_coordinator(running, lost=True))
    assert group_state(lost)[:2] == (False, "group coordinator unknown")
    joined, why, fatal = group_state(_app(_coordinator(running, pending=ValueError("x"))))
    assert not joined and why.startswith("join failed") and fatal is None
    ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ended.set_exception(RuntimeError("unpack requires a buffer of 2 bytes"))
    joined, _, fatal = group_state(_app(_coordinator(ended)))
    assert not joined and fatal is not None and "unpack requires" in fatal
    running.cancel()
    not_started: Any = SimpleNamespace(consumer=SimpleNamespace())
    assert group_state(not_started)[:2] == (
        False,
        "consumer not started",
    )
