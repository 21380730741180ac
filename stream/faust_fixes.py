"""Fixes for faust-streaming 0.15.3 bugs that lose events; applied once by ``create_app``.

Recovery resumes the stream partitions *before* seeking them to their committed offsets
(faust-streaming issue #596), in both of its exits (``on_recovery_completed`` after reading
changelogs, ``_resume_streams`` when there is nothing to read): records fetched in between are
dropped when flow control resumes, yet the fetch position has already moved past them, so a
restarted worker silently skips events. We keep Faust's own methods and only swap the order
of those two calls: the resume is held back until the seek has happened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faust.tables.recovery import Recovery

_APPLIED_MARK = "_paystream_seek_before_resume"


def _seek_before_resume(
    original: Callable[..., Awaitable[None]],
) -> Callable[..., Awaitable[None]]:
    async def on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
        consumer: Any = self.app.consumer
        resume, seek = consumer.resume_partitions, consumer.perform_seek
        held: list[Any] = []

        async def seek_then_resume(*args: Any, **kwargs: Any) -> Any:
            result = await seek(*args, **kwargs)
            while held:
                resume(held.pop(0))
            return result

        consumer.resume_partitions = held.append
        consumer.perform_seek = seek_then_resume
        try:
            await original(self, generation_id)
        finally:
            del consumer.resume_partitions, consumer.perform_seek  # back to the class methods
            while held:  # no seek happened (nothing assigned, or a new rebalance)
                resume(held.pop(0))

    setattr(on_recovery_completed, _APPLIED_MARK, True)
    return on_recovery_completed


def apply() -> None:
    for name in ("on_recovery_completed", "_resume_streams"):
        current = getattr(Recovery, name)
        if not getattr(current, _APPLIED_MARK, False):
            setattr(Recovery, name, _seek_before_resume(current))
