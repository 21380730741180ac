"""Fixes 4 and 5 for faust-streaming 0.15.3: events acked before they were processed.

4. ``Stream.take_events`` acks its batch in a ``finally``. When an agent stops while a batch
   is still being processed (its task cancelled; an agent that returns abandons the
   generator), that ``finally`` runs whenever the generator is finalized and acks every event
   of the batch: Faust then commits past records that were never processed. The runtime marks
   the stream of a batch whose processing did not end (``hold_acks``); from then on that
   stream acks nothing, so those records stay uncommitted and are read again by whoever owns
   the partition next.

5. ``Stream.on_stop`` closes every iterator of the stream it still tracks (``aclose``), meant
   for generators a caller abandoned (PyPy finalizes them late). On CPython an abandoned one is
   finalized at once, so the ones left are those an agent is iterating *right now*: closed at
   the ``yield`` while the agent still works on the batch (or event) it was handed, their
   ``finally`` acks it. A worker's graceful stop stops the streams before it stops the agents,
   so the final commit took the records in hand, and a charge command, or a table update, was
   lost with the worker (one in two loaded restarts of ``test_cdc_source.py``'s SIGTERM case).
   We leave the iterators to their agents: an agent being stopped is told through its channel,
   finishes what it holds, and the ``finally`` acks only then (or, cancelled, ``hold_acks``).
"""

from __future__ import annotations

import weakref
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


def _stop_without_closing_iterators(on_stop: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapped(self: Stream[Any]) -> None:
        in_use = self._active_agens
        self._active_agens = weakref.WeakSet()  # nothing for Faust's on_stop to close
        try:
            await on_stop(self)
        finally:
            self._active_agens = in_use

    setattr(wrapped, _APPLIED_MARK, True)
    return wrapped


def apply() -> None:
    if not getattr(Stream.ack, _APPLIED_MARK, False):
        Stream.ack = _ack_unless_held(Stream.ack)  # type: ignore[method-assign]
    if not getattr(Stream.on_stop, _APPLIED_MARK, False):
        Stream.on_stop = _stop_without_closing_iterators(Stream.on_stop)  # type: ignore[method-assign]
