"""The shared shape of a connector client: httpx, auth with one refresh, observation, retries.

A connector subclasses ``ApiClient`` and supplies ``authenticate`` (returns headers) and
``classify`` (turns a failed response into a ``ConnectorError`` via its ``ErrorTable``). Every
call of every client goes through ``request``: one path for auth, retries and reporting.
"""

from __future__ import annotations

import functools
import time
from abc import ABC, abstractmethod
from datetime import timedelta
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
        self._transport = transport or AiohttpTransport()
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, transport=self._transport
        )
        # str(base_url) and the timeout's dict, kept while base_url / timeout stay the same objects
        self._base: tuple[httpx.URL, str | None] | None = None
        self._timeout: tuple[httpx.Timeout, dict[str, float | None]] | None = None
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
            response = await self._exchange(method, path, headers, options)
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

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], options: dict[str, Any]
    ) -> httpx.Response:
        """``self.http.request(...)``, minus the machinery these calls never use.

        ``AsyncClient.request`` took about a quarter of each call's CPU: it parses the path
        and merges it into base_url (parsing again), runs the auth and redirect loops, event
        hooks and the cookie jar. Here the request is built from ``str(base_url) + path`` and
        handed to the transport; whatever this shortcut does not cover goes the full way."""
        http = self._http
        base = self._base
        if base is None or base[0] is not http.base_url:  # Salesforce swaps it after login
            base = self._base = (http.base_url, _prefix(http.base_url))
        prefix = base[1]
        if prefix is None or not _direct(http, path, options):
            return await http.request(method, path, headers=headers, **options)
        if "timeout" in options:
            timeout = httpx.Timeout(options["timeout"]).as_dict()
        else:
            held = self._timeout
            if held is None or held[0] is not http.timeout:
                held = self._timeout = (http.timeout, http.timeout.as_dict())
            timeout = held[1]
        merged = httpx.Headers(http.headers)  # the client's defaults, as build_request merges
        merged.update(headers)
        # As build_request: the base ends in "/", a leading "/" of the path is dropped.
        request = httpx.Request(
            method,
            _url(prefix + (path[1:] if path[:1] == "/" else path)),
            params=options.get("params"),
            headers=merged,
            cookies=http.cookies or None,  # none unless a server set one
            content=options.get("content"),
            data=options.get("data"),
            files=options.get("files"),
            json=options.get("json"),
            extensions={"timeout": timeout},
        )
        started = time.perf_counter()
        try:
            response = await self._transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # as httpx's request_context does
            raise
        response.request = request
        try:
            await response.aread()  # closes the stream once read
        except BaseException:
            await response.aclose()
            raise
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        if "set-cookie" in response.headers:  # the jar costs CPU: only when there is a cookie
            http.cookies.extract_cookies(response)
        return response

    def report(self, label: str, error: ConnectorError | None, seconds: float | None) -> None:
        """Tell the observer how a call ended (also used for calls outside ``request``)."""
        observer().call(self.system, label, "ok" if error is None else error.action.value, seconds)
        if isinstance(error, RateLimited):
            observer().throttled(self.system)


@functools.lru_cache(maxsize=1024)
def _url(text: str) -> httpx.URL:
    # Parsing a URL is a third of building a request, and most calls go to a few URLs (a
    # collection to POST to); httpx.URL is immutable, so one is shared by all its requests.
    return httpx.URL(text)


def _prefix(base_url: httpx.URL) -> str | None:
    """What a relative path is appended to, as httpx merges it (base_url's raw path always
    ends in "/"); None for a base httpx treats specially: credentials become Basic auth."""
    if base_url.userinfo or base_url.query or base_url.fragment:
        return None
    text = str(base_url)
    return text if text.endswith("/") else text + "/"


# What _exchange builds itself; anything else (auth=, extensions=, ...) goes through httpx.
_DIRECT_OPTIONS = frozenset({"params", "content", "data", "files", "json", "timeout"})


def _direct(http: httpx.AsyncClient, path: str, options: dict[str, Any]) -> bool:
    """Whether ``ApiClient._exchange`` may skip ``http.request``: a path relative to base_url
    (not ``//host`` nor ``scheme:``) and a client without auth, redirects, hooks or params."""
    relative = path[1:2] != "/" if path[:1] == "/" else ":" not in path.partition("/")[0]
    return (
        relative
        and "#" not in path  # httpx drops a fragment from the path it merges
        and options.keys() <= _DIRECT_OPTIONS
        and http.auth is None
        and not http.params  # build_request would merge the client's own query params
        and not http.follow_redirects
        and not http.is_closed
        and not any(http.event_hooks.values())
    )
