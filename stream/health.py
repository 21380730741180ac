"""Is this worker doing its job? ``/health`` says so, and a worker that cannot recover exits.

A worker can look alive (process up, web server answering) while it consumes nothing: its
consumer is out of the group (the join failed, see stream/faust_fixes.py fix 3), or its
partitions have lag and do not move. Either is reported at once on ``/health`` (503 with the
reasons; 200 ``{"status": "ok"}`` otherwise). Lasting longer than the liveness timeout, it
stops the worker with a non-zero exit (one log line says why), so a supervisor restarts it:
a fresh process joins the group again. A worker stops cleanly (it leaves the group; noida-db
never expires a vanished member), or is ended hard if that stop hangs.

What feeds it: a timer here looks at the consumer's group membership; the stall watchdog
(stream/stall_watchdog.py) reports which partitions lag without moving.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka import TopicPartition

log = logging.getLogger(__name__)

EXIT_CODE = 1  # what mode's worker exits with after a crash
HARD_EXIT_AFTER_SECONDS = 60.0  # a clean stop that hangs this long is cut short


class LivenessError(Exception):
    """The worker stopped itself: it could not consume and did not recover."""


@dataclass
class Liveness:
    """The decision, kept apart from Faust and the clock so it can be tested with fake time."""

    timeout: float  # seconds a fault may last before the worker gives up; 0: never
    clock: Callable[[], float] = time.monotonic
    _out_of_group_since: float | None = None
    _out_of_group_why: str = ""
    # partition -> (committed offset it is stuck at, since when, looks at that offset)
    _stuck: dict[TopicPartition, tuple[int, float, int]] = field(default_factory=dict)
    _fatal: str | None = None
    stopping: bool = False

    def __post_init__(self) -> None:
        self._out_of_group_since = self.clock()  # not in the group until it has joined
        self._out_of_group_why = "not joined yet"

    def group(self, joined: bool, why: str = "") -> None:
        """The consumer's membership, as last seen."""
        if joined:
            self._out_of_group_since = None
        elif self._out_of_group_since is None:
            self._out_of_group_since = self.clock()
        if not joined:
            self._out_of_group_why = why or "not in the group"

    def partitions(
        self, lagging: dict[TopicPartition, int], looked_at: Iterable[TopicPartition]
    ) -> None:
        """One look of the stall watchdog: ``lagging`` partitions are below their end at these
        committed offsets with nothing of them in progress; the others ``looked_at`` are not."""
        now = self.clock()
        for tp in looked_at:
            if tp not in lagging:
                self._stuck.pop(tp, None)
        for tp, committed in lagging.items():
            seen = self._stuck.get(tp)
            if seen is None or seen[0] != committed:  # it moved: a new wait starts
                self._stuck[tp] = (committed, now, 1)
            else:
                self._stuck[tp] = (committed, seen[1], seen[2] + 1)

    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions no longer ours (a rebalance) are no longer our stall."""
        keep = set(partitions)
        self._stuck = {tp: seen for tp, seen in self._stuck.items() if tp in keep}

    def fatal(self, reason: str) -> None:
        self._fatal = self._fatal or reason

    def reasons(self) -> list[str]:
        """What is wrong now; empty when healthy. A partition counts once it has been seen
        stuck at the same offset twice (one look cannot tell a stall from a slow commit)."""
        now = self.clock()
        found = [f"fatal: {self._fatal}"] if self._fatal else []
        if self._out_of_group_since is not None:
            found.append(
                f"consumer not in its group for {now - self._out_of_group_since:.0f} s "
                f"({self._out_of_group_why})"
            )
        for tp, (committed, since, looks) in sorted(self._stuck.items()):
            if looks >= 2:
                found.append(
                    f"partition {tp.topic}-{tp.partition} stalled at offset {committed} "
                    f"for {now - since:.0f} s"
                )
        return found

    def give_up(self) -> str | None:
        """Why the worker should stop now, or None while it may still recover."""
        if self._fatal:
            return self._fatal
        if self.timeout <= 0:
            return None
        now = self.clock()
        if self._out_of_group_since is not None and now - self._out_of_group_since > self.timeout:
            return (
                f"consumer not in its group for over {self.timeout:.0f} s "
                f"({self._out_of_group_why})"
            )
        for tp, (committed, since, looks) in sorted(self._stuck.items()):
            if looks >= 2 and now - since > self.timeout:
                return (
                    f"partition {tp.topic}-{tp.partition} has lag and has not moved from "
                    f"offset {committed} for over {self.timeout:.0f} s"
                )
        return None

    def report(self) -> tuple[int, dict[str, Any]]:
        """The /health answer: HTTP status and body."""
        reasons = self.reasons()
        if not reasons:
            return 200, {"status": "ok", "reasons": []}
        return 503, {"status": "failing" if self._fatal else "degraded", "reasons": reasons}


def group_state(app: faust.App) -> tuple[bool, str, str | None]:
    """(joined, why not, fatal) of the app's aiokafka consumer, read without touching it.

    Joined: the coordinator has given an assignment and wants no rejoin. Fatal: its
    coordination task ended, so it will never join again in this process.
    """
    thread: Any = getattr(app.consumer, "_thread", None)
    consumer: Any = getattr(thread, "_consumer", None)
    coordinator: Any = getattr(consumer, "_coordinator", None)
    if coordinator is None or not hasattr(coordinator, "_coordination_task"):
        return False, "consumer not started", None
    task = coordinator._coordination_task
    if task.done():
        error = None if task.cancelled() else task.exception()
        return False, "coordination stopped", f"consumer group coordination ended: {error!r}"
    pending = coordinator._pending_exception
    if pending is not None:
        return False, f"join failed: {pending!r}", None
    subscription = consumer._subscription.subscription
    if subscription is None or subscription.assignment is None:
        return False, "joining", None
    if coordinator._rejoin_needed_fut.done():
        return False, "rejoining", None
    if coordinator.coordinator_id is None:  # the broker is gone: heartbeats fail
        return False, "group coordinator unknown", None
    return True, "", None


async def _retry_join(app: faust.App) -> None:
    """aiokafka parks a failed join until its error is consumed by ``getmany``, which Faust
    never calls; consuming it here (on the consumer's own thread) lets it join again."""
    thread: Any = app.consumer._thread  # type: ignore[attr-defined]

    async def consume_error() -> None:
        coordinator = thread._consumer._coordinator
        if coordinator._pending_exception is not None:
            try:
                coordinator.check_errors()
            except Exception as exc:  # the error we came for
                log.warning("consumer group join failed: %r; joining again", exc)

    await thread.call_thread(consume_error)


_BY_APP: weakref.WeakKeyDictionary[faust.App, Liveness] = weakref.WeakKeyDictionary()


def for_app(app: faust.App) -> Liveness | None:
    return _BY_APP.get(app)


def _hard_exit_later(seconds: float) -> None:
    def hard_exit() -> None:
        log.error("clean stop did not finish within %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(EXIT_CODE)

    timer = threading.Timer(seconds, hard_exit)
    timer.daemon = True
    timer.start()


def install(app: faust.App, timeout_seconds: float, check_seconds: float = 5.0) -> Liveness:
    """Add ``/health`` and the liveness timer to ``app`` (``stream.app.create_app`` does)."""
    liveness = _BY_APP[app] = Liveness(timeout_seconds)

    @app.page("/health")
    async def health_page(view: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        status, body = liveness.report()
        return view.json(body, status=status)

    @app.timer(check_seconds, name="liveness")
    async def liveness_check() -> None:
        if liveness.stopping:
            return
        try:
            joined, why, fatal = group_state(app)
            if fatal:
                liveness.fatal(fatal)
            liveness.group(joined, why)
            if why.startswith("join failed"):
                await _retry_join(app)
        except Exception as exc:  # a look that failed is no verdict
            log.warning("liveness check skipped: %r", exc)
            return
        reason = liveness.give_up()
        if reason is None:
            return
        liveness.stopping = True
        log.error("worker cannot consume and did not recover, stopping to be restarted: %s", reason)
        _hard_exit_later(HARD_EXIT_AFTER_SECONDS)
        # mode's worker stops on a crash and exits non-zero with its reason.
        await app.crash(LivenessError(reason))

    return liveness
