"""Fix 4: a stream whose batch did not finish acks nothing, so nothing of it is committed."""

from __future__ import annotations

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
