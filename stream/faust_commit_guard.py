"""Fix 6 for faust-streaming 0.15.3: a commit past a record no stream acknowledged.

``Consumer._new_offset`` commits the run of acknowledged offsets at the head of its acked list,
and lets that head be one past the committed offset: after a seek, the offset at the commit
position may be a transaction marker, which is never delivered. But it may as well be a record
that was handed to a stream and lost on the way (fixes 1 and 2 in stream/faust_fixes.py closed
two such ways); Faust then commits past it and the record is never processed, silently.

We remember, per partition, the offsets ``getmany`` handed on (records, so never markers) until
they are committed. When the record at the committed offset is one of them and was not
acknowledged, nothing is committed past it: the partition waits there, which the stall watchdog
(stream/stall_watchdog.py) sees and answers by reading it again. A wait, not a loss. Faust's
own check for a hole at the head reads ``if committed_offset:``, so at committed offset 0 it
commits past one (a property test found it): there we wait too.

We also note the offsets of a commit under way (``committing``): Faust takes them off its acked
lists, then flushes the producer before it commits (``Consumer._commit_offsets``), which took
17 s on the loaded machine. Meanwhile the partition has nothing in progress and its group offset
has not moved, which is no stall either (issue 15's drains). Nor is a partition whose record
at Faust's committed offset is acknowledged: the next commit takes it (acks that came after the
commit under way took its offsets wait for the one after; a two-worker drain had the watchdog
seek such a partition, acked=[3] at committed 3, 2026-11-29).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)
APPLIED_MARK = "_paystream_fix"
_HANDED = "_paystream_handed_offsets"
_WARNED = "_paystream_commit_guard_warned"
_COMMITTING = "_paystream_committing"


def handed_offsets(consumer: Any) -> dict[TP, set[int]]:
    """Per partition, the offsets handed to the streams and not yet committed."""
    handed: dict[TP, set[int]] | None = getattr(consumer, _HANDED, None)
    if handed is None:
        handed = {}
        setattr(consumer, _HANDED, handed)
    return handed


def remembering(consumer: Any) -> Callable[[TP, int], None]:
    """What ``getmany`` calls with each record it hands on. Only partitions whose records are
    acked count (never changelogs: read, not committed, they would only grow)."""
    known = handed_offsets(consumer)
    acks_enabled_for = consumer.app.topics.acks_enabled_for

    def remember(tp: TP, offset: int) -> None:
        if acks_enabled_for(tp.topic):
            known.setdefault(tp, set()).add(offset)

    return remember


def lost_head(consumer: Any, tp: TP) -> int | None:
    """The committed offset, when the record there was handed on and never acknowledged."""
    committed: int | None = consumer._committed_offset.get(tp)
    if committed is None:
        return None
    if committed in handed_offsets(consumer).get(tp, ()) and (
        committed not in consumer._acked_index[tp]
    ):
        return committed
    return None


def _forget_committed(consumer: Any, tp: TP, committed: int) -> None:
    offsets = handed_offsets(consumer).get(tp)
    if offsets:
        offsets.difference_update([o for o in offsets if o < committed])


def guard_new_offset(original: Callable[[Any, TP], int | None]) -> Callable[[Any, TP], int | None]:
    @functools.wraps(original)  # Faust's own one stays reachable as ``__wrapped__``
    def _new_offset(self: Any, tp: TP) -> int | None:
        if self._acked[tp]:
            head = lost_head(self, tp)
            if head is not None:
                warned: set[tuple[TP, int]] = getattr(self, _WARNED, set())
                setattr(self, _WARNED, warned)
                if (tp, head) not in warned:  # once per record: commits are attempted often
                    warned.add((tp, head))
                    log.warning(
                        "%s-%d: the record at offset %d was handed to a stream and never "
                        "acknowledged; not committing past it",
                        tp.topic,
                        tp.partition,
                        head,
                    )
                return None
            if self._committed_offset.get(tp) == 0 and min(self._acked[tp]) > 1:
                # Faust's own gap check reads ``if committed_offset:``, so at 0 it commits
                # past a hole at the head; anywhere else it waits, as here.
                return None
        new_offset = original(self, tp)
        if new_offset is not None:
            _forget_committed(self, tp, new_offset)
        return new_offset

    setattr(_new_offset, APPLIED_MARK, True)  # stream/faust_fixes.py applies it once
    return _new_offset


def committing(consumer: Any) -> dict[TP, int]:
    """Partitions whose group offset is about to move, and to where: those of the commit under
    way, and those whose record at Faust's committed offset is acknowledged (the next commit
    takes it)."""
    moving: dict[TP, int] = {}
    acked_index: Mapping[TP, set[int]] = getattr(consumer, "_acked_index", {})
    for tp, offset in list(getattr(consumer, "_committed_offset", {}).items()):
        head = offset or 0  # Faust keeps a committed 0 as None
        if head in acked_index.get(tp, ()):
            moving[tp] = head + 1
    for tp, offset in getattr(consumer, _COMMITTING, {}).items():
        moving[tp] = max(offset, moving.get(tp, offset))
    return moving


def note_committing(original: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
    @functools.wraps(original)
    async def _commit_offsets(self: Any, offsets: Mapping[TP, int], *args: Any, **kw: Any) -> bool:
        setattr(self, _COMMITTING, dict(offsets))
        try:
            return await original(self, offsets, *args, **kw)
        finally:
            setattr(self, _COMMITTING, {})

    setattr(_commit_offsets, APPLIED_MARK, True)
    return _commit_offsets
