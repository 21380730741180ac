"""What the runtime does with a failure, decided by its type alone (Airbyte CDK's
error-to-resolution table; aiokafka's immutable ``retriable``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

import httpx
from pydantic import ValidationError

from connectors.base.errors import AlreadyDone, ConfigurationError, ConnectorError, RecordError
from stream.runtime.outcomes import Ignored, Rejected


class Do(StrEnum):
    DELIVERED = "delivered"  # the effect is already there
    IGNORE = "ignore"  # nothing to do, by design
    DEAD_LETTER = "dead_letter"  # the record's own fault
    RETRY = "retry"  # the other side is unavailable: keep the record, try again
    STOP = "stop"  # configuration: nothing will work until a person fixes it


@dataclass(frozen=True)
class Disposition:
    do: Do
    reason: str = ""
    detail: str = ""


def dispose(exc: BaseException) -> Disposition:
    if isinstance(exc, Ignored):
        return Disposition(Do.IGNORE, exc.reason)
    if isinstance(exc, Rejected):
        return Disposition(Do.DEAD_LETTER, exc.reason, exc.detail)
    if isinstance(exc, AlreadyDone):
        return Disposition(Do.DELIVERED)
    if isinstance(exc, ConfigurationError):
        return Disposition(Do.STOP, exc.reason, str(exc))
    if isinstance(exc, RecordError):
        return Disposition(Do.DEAD_LETTER, exc.reason, str(exc))
    if isinstance(exc, ConnectorError) and exc.retriable:
        return Disposition(Do.RETRY, exc.reason, str(exc))
    if isinstance(exc, httpx.TransportError | asyncio.TimeoutError):
        return Disposition(Do.RETRY, "unreachable", repr(exc))
    if isinstance(exc, ValidationError):
        return Disposition(Do.DEAD_LETTER, "malformed", str(exc))
    if isinstance(exc, ConnectorError):  # any other classified failure belongs to the record
        return Disposition(Do.DEAD_LETTER, exc.reason, str(exc))
    # A value our code could not handle (a bug or a hostile record): that record's alone.
    return Disposition(Do.DEAD_LETTER, f"unexpected:{type(exc).__name__}", repr(exc))
