"""Fixes 4 and 5: no batch is acked before its agent is done with it."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator
from typing import Any

from faust.streams import Stream

from stream import faust_batch_acks


class Message:
    tp = ("t", 0)
    offset = 7


class Event:
    def __init__(self) -> None:
        self.acked = 0
        self.message = Message()

    def ack(self) -> bool:
        self.acked += 1
        return False  # not the last stream to ack: Faust then does nothing more


class FakeStream:
    """Only what ``Stream.ack`` uses."""

    def __init__(self) -> None:
        self.out: list[tuple[Any, int]] = []

    def _on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.out.append((tp, offset))


async def test_a_held_stream_acks_nothing_and_others_ack_as_before() -> None:
    faust_batch_acks.apply()
    faust_batch_acks.apply()  # idempotent: one wrapper
    held, normal = FakeStream(), FakeStream()
    faust_batch_acks.hold_acks(held)
    first, second = Event(), Event()
    ack: Any = Stream.ack
    assert await ack(held, first) is False
    assert first.acked == 0
    await ack(normal, second)
    assert second.acked == 1 and normal.out == [(("t", 0), 7)]
    assert held.out == []


class Passive:
    def clear(self) -> None:
        pass


class StoppingStream:
    """Only what ``Stream.on_stop`` uses."""

    def __init__(self) -> None:
        self._active_agens: Any = weakref.WeakSet()
        self._on_start = None
        self._passive = True
        self._passive_started = Passive()
        self.combined: list[Any] = []


async def test_stopping_a_stream_leaves_the_batch_in_hand_to_its_agent() -> None:
    """Fix 5: the iterator an agent is in is not closed under it, so its ``finally`` (which
    acks the batch) runs only when the agent comes back for the next one."""
    faust_batch_acks.apply()
    faust_batch_acks.apply()
    acked: list[str] = []

    async def take_events() -> AsyncIterator[list[str]]:
        batch = ["charge command"]
        try:
            yield batch
        finally:
            acked.extend(batch)

    stream = StoppingStream()
    batches = take_events()
    stream._active_agens.add(batches)
    assert await anext(batches) == ["charge command"]  # the agent works on it

    on_stop: Any = Stream.on_stop
    await on_stop(stream)
    assert acked == [] and stream._passive is False  # the rest of Faust's on_stop ran
    assert batches in stream._active_agens

    with contextlib.suppress(StopAsyncIteration):  # the agent done: it asks for more
        await anext(batches)
    assert acked == ["charge command"]
