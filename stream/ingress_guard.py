"""The ingress's checks on a request, before anything is parsed or sent: who signed it, when,
whether it was seen before, and whether its sender is over its rate.

Signature: ``X-Paystream-Signature: v1=<hex HMAC-SHA256 of f"{timestamp}.{raw body}">`` with
the sender's secret; ``X-Paystream-Timestamp`` is Unix seconds, ``X-Paystream-Source`` names
the sender. A source may have several secrets at once (rotation): any of them verifies.
Nothing here logs or returns a secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from aiolimiter import AsyncLimiter

SOURCE_HEADER = "X-Paystream-Source"
TIMESTAMP_HEADER = "X-Paystream-Timestamp"
SIGNATURE_HEADER = "X-Paystream-Signature"
SCHEME = "v1"
MAX_SIGNATURES = 4  # v1=a,v1=b: a sender mid-rotation may sign with two secrets


class Refusal(Exception):
    """The request is refused with ``status``; ``code`` is the stable label the body names."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The header value a sender puts in ``X-Paystream-Signature``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def _offered(header: str) -> list[str]:
    found = []
    for part in header.replace(" ", ",").split(",")[: MAX_SIGNATURES * 2]:
        scheme, _, value = part.strip().partition("=")
        if scheme == SCHEME and value:
            found.append(value.lower())
    return found[:MAX_SIGNATURES]


def verify(secrets: Iterable[str], timestamp: str, body: bytes, header: str) -> str:
    """The matching signature (hex), or a 401 ``Refusal``. Compared in constant time."""
    offered = _offered(header)
    if not offered:
        raise Refusal(401, "unsigned", f"no {SCHEME} signature")
    for secret in secrets:
        expected = sign(secret, timestamp, body).partition("=")[2]
        for candidate in offered:
            if hmac.compare_digest(expected, candidate):
                return expected
    raise Refusal(401, "bad_signature", "signature does not verify")


def check_timestamp(value: str, tolerance: float, now: float | None = None) -> None:
    """Unix seconds within ``tolerance`` of now (either way), else 401 ``stale``."""
    try:
        stamp = int(value)
    except ValueError:
        raise Refusal(401, "bad_timestamp", "timestamp is not Unix seconds") from None
    if abs((now if now is not None else time.time()) - stamp) > tolerance:
        raise Refusal(401, "stale", f"timestamp outside {int(tolerance)} s of now")


class ReplayCache:
    """Signatures accepted (or being sent) within the tolerance window, per process.

    A signature is reserved while its record is sent and released if the send fails, so a
    sender retrying after a 503 is not taken for a replay. Bounded: the oldest go first.
    """

    def __init__(
        self, window: float, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.limit = limit
        self.clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def reserve(self, signature: str) -> None:
        now = self.clock()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            raise Refusal(409, "replayed", "this signed request was already received")
        self._seen[signature] = now + 2 * self.window  # a timestamp may be window off each way
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def release(self, signature: str) -> None:
        self._seen.pop(signature, None)


class SourceLimits:
    """A leaky bucket per source (aiolimiter): ``burst`` at once, ``rate`` per second after."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._limiters: dict[str, AsyncLimiter] = {}

    def retry_after(self) -> int:
        return max(1, math.ceil(1 / self.rate))

    async def take(self, source: str) -> None:
        limiter = self._limiters.get(source)
        if limiter is None:
            limiter = self._limiters[source] = AsyncLimiter(self.burst, self.burst / self.rate)
        if not limiter.has_capacity():
            raise Refusal(429, "rate_limited", "too many requests", self.retry_after())
        await limiter.acquire()  # has capacity: returns at once
