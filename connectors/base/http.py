"""The shared shape of a connector client: httpx, auth with one refresh, observation, retries.

A connector subclasses ``ApiClient`` and supplies ``authenticate`` (returns headers) and
``classify`` (turns a failed response into a ``ConnectorError`` via its ``ErrorTable``). Every
call of every client goes through ``request``: one path for auth, retries and reporting.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, Self

import httpx

from connectors.base.aiohttp_transport import AiohttpTransport
from connectors.base.errors import ConnectorError, RateLimited, TokenExpired
from connectors.base.observer import observer
from connectors.base.retry import RetryPolicy, call_with_retry


class ApiClient(ABC):
    system: str = "api"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # httpx's API over aiohttp's cheaper HTTP/1.1 (aiohttp_transport.py); tests pass their own.
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport or AiohttpTransport()
        )
        self._auth_headers: dict[str, str] | None = None
        self.retry_policy = retry or RetryPolicy()

    @property
    def http(self) -> httpx.AsyncClient:
        return self._http

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def authenticate(self) -> dict[str, str]:
        """Obtain credentials; return the headers that carry them."""

    @abstractmethod
    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """None for a success, else the classified error."""

    def observe(self, response: httpx.Response) -> None:  # noqa: B027 - optional hook
        """Hook for headers every response carries (e.g. Salesforce limits)."""

    def token_stale(self) -> bool:
        """True when the held token should be renewed before the next call (e.g. it is
        about to expire). The base knows no expiry: a token lives until it is refused."""
        return False

    # A cheap authenticated GET that every healthy server answers; None: logging in is the probe.
    probe_path: str | None = None

    async def probe(self) -> None:
        """Return when the system answers a cheap authenticated call, raise when it does not:
        tells a record's own failure (the system is up) from an outage (it is not)."""
        if self.probe_path is None:
            await self.invalidate_token()
            self._auth_headers = await self.authenticate()
            return
        await self.request("GET", self.probe_path, endpoint="probe", retry=False)

    async def invalidate_token(self) -> None:
        self._auth_headers = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        retry: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with auth; re-authenticate once on an expired token; retry when retriable."""
        label = endpoint or path

        async def attempt() -> httpx.Response:
            return await self._send_authenticated(method, path, label, **kwargs)

        if not retry:
            return await attempt()

        def on_retry(_: BaseException) -> None:
            observer().retry(self.system, label)

        return await call_with_retry(attempt, self.retry_policy, on_retry)

    async def _send_authenticated(
        self, method: str, path: str, label: str, **kwargs: Any
    ) -> httpx.Response:
        if self._auth_headers is not None and self.token_stale():
            await self.invalidate_token()
        try:
            return await self._send_once(method, path, label, **kwargs)
        except TokenExpired:
            await self.invalidate_token()
            return await self._send_once(method, path, label, **kwargs)

    async def _send_once(self, method: str, path: str, label: str, **kwargs: Any) -> httpx.Response:
        if self._auth_headers is None:
            self._auth_headers = await self.authenticate()
        # kwargs are reused by retries: read, never mutate them.
        headers = {**self._auth_headers, **(kwargs.get("headers") or {})}
        options = {k: v for k, v in kwargs.items() if k != "headers"}
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, headers=headers, **options)
        except httpx.TransportError:
            observer().call(self.system, label, "transport_error", time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        self.observe(response)
        error = self.classify(response)
        self.report(label, error, seconds)
        if error is not None:
            raise error
        return response

    def report(self, label: str, error: ConnectorError | None, seconds: float | None) -> None:
        """Tell the observer how a call ended (also used for calls outside ``request``)."""
        observer().call(self.system, label, "ok" if error is None else error.action.value, seconds)
        if isinstance(error, RateLimited):
            observer().throttled(self.system)
