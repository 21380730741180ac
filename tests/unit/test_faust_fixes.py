"""What the getmany fix seeks back to: the first fetched offset of each partition that was not
handed on, whatever the reason Faust dropped it."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import faust
from aiokafka.consumer.group_coordinator import CoordinatorGroupRebalance
from aiokafka.coordinator.protocol import ConsumerProtocol
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from stream import faust_fixes

A, B = TP("t", 0), TP("t", 1)


@dataclass(frozen=True)
class Record:
    offset: int


def records(*offsets: int) -> list[Record]:
    return [Record(o) for o in offsets]


def test_a_partition_dropped_whole_is_fetched_again_from_its_first_record() -> None:
    fetched = {A: records(5, 6, 7), B: records(3, 4)}
    handed = {B: {3, 4}}
    assert faust_fixes.first_not_handed_on(fetched, handed) == {A: 5}


def test_the_rest_of_a_batch_cut_short_is_fetched_again() -> None:
    assert faust_fixes.first_not_handed_on({A: records(5, 6, 7)}, {A: {5}}) == {A: 6}


def test_a_hole_before_records_handed_on_is_fetched_again() -> None:
    # Paused, then resumed while the batch was handed on: 5 dropped, 6 and 7 given.
    assert faust_fixes.first_not_handed_on({A: records(5, 6, 7)}, {A: {6, 7}}) == {A: 5}


def test_everything_handed_on_needs_nothing() -> None:
    assert faust_fixes.first_not_handed_on({A: records(5, 6)}, {A: {5, 6}}) == {}
    assert faust_fixes.first_not_handed_on({}, {}) == {}


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=50, unique=True),
    st.data(),
)
def test_the_offset_sought_is_never_past_a_record_not_handed_on(
    offsets: list[int], data: st.DataObject
) -> None:
    offsets.sort()
    handed = set(data.draw(st.lists(st.sampled_from(offsets), unique=True)))
    firsts = faust_fixes.first_not_handed_on({A: records(*offsets)}, {A: handed})
    missed = [o for o in offsets if o not in handed]
    if missed:
        assert firsts == {A: missed[0]}
        assert all(firsts[A] <= o for o in missed)
    else:
        assert firsts == {}


def test_apply_patches_once() -> None:
    faust_fixes.apply()
    patched = (Consumer.getmany, Consumer._wait_next_records, Recovery.on_recovery_completed)
    faust_fixes.apply()
    assert (Consumer.getmany, Consumer._wait_next_records, Recovery.on_recovery_completed) == (
        patched
    )
    assert all(getattr(f, "_paystream_fix", False) for f in patched)
    assert faust.App is not None  # the module imports cleanly with the patches in place


# The SyncGroup answer noida-db gave a leader it had left out of the member list (measured).
EMPTY_ASSIGNMENT = b""


def test_an_empty_or_truncated_assignment_is_not_decodable() -> None:
    good = ConsumerProtocol.ASSIGNMENT(0, [("t", [0, 1])], b"").encode()
    assert faust_fixes.decodable_assignment(good)
    assert not faust_fixes.decodable_assignment(EMPTY_ASSIGNMENT)
    assert not faust_fixes.decodable_assignment(good[:7])


class Coordinator:
    generation, member_id = 2, "member-a"

    def __init__(self) -> None:
        self.rejoins = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


async def test_an_undecodable_assignment_fails_the_join_attempt_and_asks_for_another() -> None:
    faust_fixes.apply()
    sync = CoordinatorGroupRebalance._send_sync_group_request
    good = ConsumerProtocol.ASSIGNMENT(0, [("t", [0])], b"").encode()
    answers = [EMPTY_ASSIGNMENT, good, None]

    async def original(self: object, request: object) -> bytes | None:
        return answers.pop(0)

    rebalance = SimpleNamespace(_coordinator=Coordinator(), group_id="g")
    fixed = faust_fixes._rejoin_on_undecodable_assignment(original)
    # None makes aiokafka back off and join again, instead of raising struct.error.
    assert await fixed(rebalance, object()) is None
    assert rebalance._coordinator.rejoins == 1
    assert await fixed(rebalance, object()) == good
    assert await fixed(rebalance, object()) is None  # aiokafka's own failure passes through
    assert rebalance._coordinator.rejoins == 1
    assert getattr(sync, "_paystream_fix", False)


class RecoveryConsumer:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def resume_partitions(self, tps: set[TP]) -> None:
        self.calls.append(f"resume {sorted(tp.partition for tp in tps)}")

    async def perform_seek(self) -> None:
        self.calls.append("seek")


async def _recover(generation_after: int) -> list[str]:
    calls: list[str] = []
    consumer = RecoveryConsumer(calls)
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1)
    recovery = SimpleNamespace(app=app)

    async def faust_order(self: object, generation_id: int = 0) -> None:
        """What Faust's on_recovery_completed does, in its order."""
        consumer.resume_partitions({A, B})
        await consumer.perform_seek()
        calls.append("flow_control.resume: every stream queue emptied")
        app.consumer_generation_id = generation_after

    await faust_fixes._resume_after_recovery(faust_order)(recovery, 1)
    return calls


async def test_stream_partitions_resume_after_the_seek_and_the_queues_emptied() -> None:
    assert await _recover(generation_after=1) == [
        "seek",
        "flow_control.resume: every stream queue emptied",
        "resume [0, 1]",
    ]


async def test_a_newer_rebalance_keeps_them_paused_for_its_own_recovery() -> None:
    assert await _recover(generation_after=2) == [
        "seek",
        "flow_control.resume: every stream queue emptied",
    ]
