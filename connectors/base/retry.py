"""Retry policy for connector calls, built on tenacity.

Retries transport failures and ``Retriable`` errors (not an expired token: see below); honours a
server's Retry-After; gives up after a bounded number of attempts so a sink can dead-letter
or pause instead of spinning forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from pydantic import BaseModel, Field
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from connectors.base.errors import ConnectorError, Retriable, TokenExpired

T = TypeVar("T")


class RetryPolicy(BaseModel):
    attempts: int = Field(default=6, ge=1)
    initial_seconds: float = Field(default=0.2, ge=0)
    max_seconds: float = Field(default=10.0, ge=0)
    total_seconds: float = Field(default=60.0, gt=0)


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, TokenExpired):
        # Handled inside the client (one re-auth); seeing it here means the fresh token was
        # refused too, which another attempt will not fix.
        return False
    if isinstance(exc, ConnectorError):
        return isinstance(exc, Retriable)
    return isinstance(exc, httpx.TransportError)


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_exponential_jitter(initial=policy.initial_seconds, max=policy.max_seconds)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ConnectorError) and exc.retry_after is not None:
            return min(exc.retry_after, policy.max_seconds)
        return float(backoff(state))

    return wait


async def call_with_retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(exc)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retriable),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.total_seconds),
        wait=_wait(policy),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:
        # A coroutine function, so tenacity awaits each attempt (a lambda returning a
        # coroutine would be treated as synchronous and never awaited).
        return await fn()

    result: T = await retrying(attempt)
    return result
