"""Long-poll on the client side for brokers that answer an empty fetch at once.

Kafka holds a Fetch that has no data for up to ``fetch.max.wait.ms``; the embedded broker
(noida-db) answers it immediately, so an idle aiokafka consumer sends thousands of fetches a
second and an idle worker burns most of a core (KNOWN.md, docs/measured-quirks.md). aiokafka's
fetcher has no client-side back-off for empty answers, so we add one where the fetch lives: a
fetch that brought no records and came back sooner than ``idle_wait`` keeps its node busy for
the rest of it, as a Kafka broker would have. Against Kafka an empty answer already took
``fetch.max.wait.ms``, so nothing is added there. New data waits at most ``idle_wait``.

The hold grows with a node's run of empty answers, from ``FIRST_HOLD_SECONDS`` doubling up to
``idle_wait``: a flat hold made every hop of a busy pipeline wait for it (at 200 records/s the
fetch after one that brought records is usually empty, so a record waited up to the whole hold
at each of its two hops), while an idle node still settles at one fetch per ``idle_wait``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from aiokafka.consumer.fetcher import Fetcher

_APPLIED_MARK = "_paystream_long_poll"

# How long an empty fetch holds its node at most: 10 fetches a second per broker when idle,
# and at most this much added latency for a record produced to an idle partition.
DEFAULT_IDLE_WAIT_SECONDS = 0.1
# The first empty answer after records holds this long; each further one twice the last.
FIRST_HOLD_SECONDS = 0.005
_STREAKS = "_paystream_empty_streaks"  # per fetcher: node id -> empty answers in a row

FetchRequest = Callable[..., Coroutine[Any, Any, bool]]


def _hold_empty_fetches(proc_fetch_request: FetchRequest, idle_wait: float) -> FetchRequest:
    @functools.wraps(proc_fetch_request)
    async def proc_fetch_request_held(
        self: Any, assignment: Any, node_id: Any, request: Any
    ) -> bool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        brought_records = await proc_fetch_request(self, assignment, node_id, request)
        streaks: dict[Any, int] = self.__dict__.setdefault(_STREAKS, {})
        # aiokafka returns True when it buffered records (or an error the reader must see):
        # those wake the reader at once and are never held.
        if brought_records:
            streaks.pop(node_id, None)
        elif idle_wait > 0:
            streak = streaks[node_id] = streaks.get(node_id, 0) + 1
            hold = min(idle_wait, FIRST_HOLD_SECONDS * 2 ** min(streak - 1, 30))
            remaining = hold - (loop.time() - started)
            if remaining > 0:
                try:
                    await asyncio.sleep(remaining)
                except asyncio.CancelledError:
                    # As aiokafka's own fetch does: close() and a lost assignment cancel
                    # pending fetches and await them, expecting a result, not the error.
                    return False
        return brought_records

    setattr(proc_fetch_request_held, _APPLIED_MARK, proc_fetch_request)
    return proc_fetch_request_held


def apply(idle_wait: float = DEFAULT_IDLE_WAIT_SECONDS) -> None:
    """Hold empty fetches for ``idle_wait`` seconds in every aiokafka consumer of this
    process (Faust's included: its consumer thread uses the same Fetcher). Idempotent."""
    current = Fetcher._proc_fetch_request
    original = getattr(current, _APPLIED_MARK, current)
    Fetcher._proc_fetch_request = _hold_empty_fetches(original, idle_wait)
