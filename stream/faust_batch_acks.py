"""Fix 4 for faust-streaming 0.15.3: ``Stream.take_events`` acks its batch in a ``finally``.

When an agent stops while a batch is still being processed (the worker stopping cancels its
task; an agent that returns abandons the generator), that ``finally`` runs whenever the
generator is finalized and acks every event of the batch: Faust then commits past records
that were never processed, and the rest of the batch is lost. The runtime marks the stream of
a batch whose processing did not end (``hold_acks``); from then on that stream acks nothing,
so those records stay uncommitted and are read again by whoever owns the partition next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.streams import Stream

_APPLIED_MARK = "_paystream_fix"
_HOLD_ACKS = "_paystream_hold_acks"


def hold_acks(stream: Any) -> None:
    """This stream's unfinished batch must not be committed: it acks nothing from now on."""
    setattr(stream, _HOLD_ACKS, True)


def _ack_unless_held(ack: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(self: Stream[Any], event: Any) -> bool:
        if getattr(self, _HOLD_ACKS, False):
            return False
        acked: bool = await ack(self, event)
        return acked

    setattr(wrapped, _APPLIED_MARK, True)
    return wrapped


def apply() -> None:
    if not getattr(Stream.ack, _APPLIED_MARK, False):
        Stream.ack = _ack_unless_held(Stream.ack)  # type: ignore[method-assign]
