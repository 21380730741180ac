"""Holding on through outages: a sink never drops or dead-letters a record because the
other side is down. Only errors classified DEAD_LETTER leave the retry loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from connectors.base.errors import Action, ConnectorError

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PAUSE_SECONDS = 30.0


async def until_delivered(
    attempt: Callable[[], Awaitable[T]], *, agent: str, what: str, first_pause: float = 0.5
) -> T:
    """Run ``attempt`` until it returns; re-raise only record-level (dead-letter) errors.

    The client already retried with backoff; landing here means a longer outage or a
    configuration problem, so we keep the record, pause, and say so loudly.
    """
    pause = first_pause
    while True:
        try:
            return await attempt()
        except ConnectorError as exc:
            if exc.action in (Action.DEAD_LETTER, Action.IDEMPOTENT_SUCCESS):
                raise
            level = logging.ERROR if exc.action is Action.FATAL else logging.WARNING
            log.log(
                level, "%s: %s failed (%s); holding it, retry in %.1fs", agent, what, exc, pause
            )
        except httpx.TransportError as exc:
            log.warning("%s: %s unreachable (%r); retry in %.1fs", agent, what, exc, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE_SECONDS)
