"""An httpx transport that sends through aiohttp: httpx stays the client API, aiohttp does HTTP/1.1.

httpx's default transport (httpcore + h11 + anyio) costs 1.6-2x the CPU per call of httpx on
this one, which hands each call to an ``aiohttp.ClientSession`` (``bench/http_client.py``). It
plugs in at httpx's documented extension point, ``AsyncBaseTransport.handle_async_request``,
and maps aiohttp's errors onto httpx's so callers (and ``retry.is_retriable``) see what they
saw before.
Bodies are read whole before the response is returned: no caller streams.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import aiohttp
import httpx
import yarl
from httpx._utils import URLPattern, get_environment_proxies  # httpx's own env-proxy rules

# aiohttp would add these itself; httpx already set the ones it wants (and left out the rest).
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# The body goes out whole, so aiohttp gives it a Content-Length where httpx meant to chunk it.
# httpx's own Content-Length is kept: it counts the very bytes sent, in httpx's header order.
_CHUNKED = b"transfer-encoding"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # httpx's CA trust (certifi, SSL_CERT_FILE), as its own transport verifies; built once, as
    # it costs tens of milliseconds.
    return httpx.create_ssl_context()


@functools.lru_cache(maxsize=64)
def _client_timeout(
    connect: float | None, read: float | None, pool: float | None
) -> aiohttp.ClientTimeout:
    # aiohttp's ``connect`` covers the wait for a pool slot and the connect itself.
    slot_and_connect = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(
        total=None, connect=slot_and_connect, sock_connect=connect, sock_read=read
    )


def _header(value: bytes) -> str:
    # aiohttp writes header strings as UTF-8, which is how httpx encodes non-ASCII text.
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _mapped(exc: Exception, request: httpx.Request, stalled: bool) -> Exception | None:
    """The httpx exception the default transport raises for what ``exc`` says happened."""
    message = str(exc) or type(exc).__name__
    if stalled:
        return httpx.WriteTimeout("timed out sending the request", request=request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, TimeoutError):  # aiohttp's sock_read (ServerTimeoutError) or its own
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS
        return httpx.ConnectError(message, request=request)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):  # closed early, cut body, malformed response: h11 calls all of these protocol errors
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectionError):  # resets and other socket errors
        return httpx.ReadError(message, request=request)
    if isinstance(exc, aiohttp.ClientError):
        return httpx.NetworkError(message, request=request)
    if isinstance(exc, ValueError):  # a control character in a header: h11 refuses it too
        return httpx.LocalProtocolError(message, request=request)
    return None


def _env_proxies() -> list[tuple[URLPattern, str | None]]:
    """HTTP(S)_PROXY, ALL_PROXY and NO_PROXY as httpx reads them for its own transport (it
    ignores them with any other); in httpx's order of precedence, a None proxy: go direct."""
    patterns = [(URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()]
    return sorted(patterns, key=lambda pattern_proxy: pattern_proxy[0])


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, limit: int = 100, keepalive_expiry: float = 5.0) -> None:
        self._limit = limit  # connections in all, as httpx's default pool
        self._keepalive_expiry = keepalive_expiry  # idle seconds, as httpx's default pool
        self._session: aiohttp.ClientSession | None = None
        self._proxies: list[tuple[URLPattern, str | None]] = []
        self._proxy_of: dict[tuple[str, str, int | None], str | None] = {}  # by origin

    def _proxy(self, url: httpx.URL) -> str | None:
        origin = (url.scheme, url.host, url.port)
        if origin not in self._proxy_of:
            matching = (proxy for pattern, proxy in self._proxies if pattern.matches(url))
            self._proxy_of[origin] = next(matching, None)
        return self._proxy_of[origin]

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Made on first use, inside the running loop: a session belongs to its loop.
            connector = aiohttp.TCPConnector(
                limit=self._limit, keepalive_timeout=self._keepalive_expiry, ssl=_ssl_context()
            )
            # Not trust_env=True: aiohttp would then read ~/.netrc (credentials httpx never
            # sends) and look up proxies in two thread hops on every request, which cost more
            # CPU than this transport saves. The environment's proxies are read here, once.
            self._proxies = _env_proxies()
            self._proxy_of.clear()
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding from the raw bytes
                cookie_jar=aiohttp.DummyCookieJar(),  # cookies are httpx's business
                skip_auto_headers=_SKIP_AUTO_HEADERS,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in ("http", "https"):  # httpcore's checks and words
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
                if scheme
                else "Request URL is missing an 'http://' or 'https://' protocol.",
                request=request,
            )
        url = request.url
        if url.userinfo:  # httpx has made it an Authorization header; aiohttp would object
            url = url.copy_with(userinfo=b"")
        timeout = request.extensions.get("timeout", {})
        connect, read = timeout.get("connect"), timeout.get("read")
        write, pool = timeout.get("write"), timeout.get("pool")
        headers = [
            (_header(key), _header(value))
            for key, value in request.headers.raw
            if key.lower() != _CHUNKED
        ]
        body = await request.aread()
        # aiohttp has no write timeout (its sock_read starts once the body is sent), so a peer
        # that stops reading our body would hang us: bound the exchange up to the response
        # head by every phase's limit, which httpx's per-phase timeouts would hit first.
        limits = [t for t in (connect, pool, write, read) if t is not None]
        watchdog = asyncio.timeout(sum(limits) if len(limits) == 4 else None)
        session = self._open()
        try:
            async with watchdog:
                response = await session.request(
                    request.method,
                    # encoded=True: httpx's percent-encoding goes out byte for byte.
                    yarl.URL(str(url), encoded=True),
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,  # httpx follows redirects itself
                    timeout=_client_timeout(connect, read, pool),
                    proxy=self._proxy(url) if self._proxies else None,
                )
            async with response:  # releases the connection to the pool
                content = await response.read()
        except Exception as exc:  # never CancelledError: a BaseException
            mapped = _mapped(exc, request, watchdog.expired())
            if mapped is None:
                raise
            raise mapped from exc
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            # A stream, not content=: the client decodes it as it does httpcore's, and no
            # Content-Length is made up for a chunked response.
            stream=httpx.ByteStream(content),
            request=request,
            extensions={
                "http_version": b"HTTP/%d.%d" % (response.version or aiohttp.HttpVersion11),
                "reason_phrase": (response.reason or "").encode("ascii", "ignore"),
            },
        )

    async def aclose(self) -> None:
        # Safe before any request and when called twice.
        session, self._session = self._session, None
        if session is not None:
            await session.close()
