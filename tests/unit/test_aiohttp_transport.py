"""``AiohttpTransport`` against real servers on loopback: what goes out, what comes back, and
which httpx errors the failures become (as with httpx's default transport)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base.aiohttp_transport import AiohttpTransport
from connectors.base.retry import is_retriable

CEILING = 30.0  # generous: only a hang reaches it
Client = Callable[..., httpx.AsyncClient]


# --- servers --------------------------------------------------------------------------------


class Echo:
    """An aiohttp.web app that answers what it received, and notes each client connection."""

    def __init__(self) -> None:
        self.peers: list[object] = []
        self.never = asyncio.Event()  # the slow route waits on it: past any read timeout
        self.arrived = asyncio.Event()  # a request reached the slow route

    async def echo(self, request: web.Request) -> web.Response:
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else 0)
        body = await request.read()
        return web.json_response(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in request.raw_headers
                ],
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "json": orjson.loads(body) if request.content_type == "application/json" else None,
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        if code == 204:
            return web.Response(status=204)
        return web.json_response({"status": code}, status=code, headers={"Retry-After": "1"})

    async def gzipped(self, request: web.Request) -> web.Response:
        body = gzip.compress(orjson.dumps({"records": ["x" * 100] * 50}))
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip"}, content_type="application/json"
        )

    async def repeated(self, request: web.Request) -> web.Response:
        response = web.Response(text="ok")
        response.headers.add("X-Multi", "one")
        response.headers.add("X-Multi", "two")
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.never.wait()
        return web.Response()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/echo/{tail:.*}", self.echo)
        app.router.add_get("/status/{code}", self.status)
        app.router.add_get("/gzip", self.gzipped)
        app.router.add_get("/repeated", self.repeated)
        app.router.add_get("/slow", self.slow)
        return app


@pytest.fixture
async def echo() -> AsyncIterator[tuple[Echo, str]]:
    server = Echo()
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.never.set()
        await runner.cleanup()


class Raw:
    """A bare HTTP/1.1 server that records each request line as sent (keep-alive); with
    ``drop``, it sends half a response body and closes the connection."""

    def __init__(self, drop: bool = False, stall: bool = False) -> None:
        self.drop = drop
        self.stall = stall  # read the head, then nothing more: the client's body write stalls
        self.lines: list[bytes] = []
        self.never = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.lines.append(head.split(b"\r\n", 1)[0])
                if self.stall:
                    await self.never.wait()
                if self.drop:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 100)
                    await writer.drain()
                    return
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def start_raw(raw: Raw) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """Makes httpx clients on ``AiohttpTransport``; closes them after the test."""
    made: list[httpx.AsyncClient] = []

    def make(base_url: str, **options: Any) -> httpx.AsyncClient:
        options.setdefault("timeout", CEILING)
        made.append(httpx.AsyncClient(base_url=base_url, transport=AiohttpTransport(), **options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


# --- what goes out and comes back -----------------------------------------------------------

SOQL = "SELECT Id FROM X WHERE Name = 'a b'"


async def test_get_with_query_params_is_sent_as_httpx_encodes_it(
    echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    http = client(url)
    response = await http.get("/echo/query", params={"q": SOQL, "n": "é&x=1"})
    assert response.status_code == 200
    expected = http.build_request("GET", "/echo/query", params={"q": SOQL, "n": "é&x=1"})
    assert response.json()["raw_path"] == expected.url.raw_path.decode()
    assert response.json()["method"] == "GET"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_json_bodies_for_every_verb(
    method: str, echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    payment = {"PaymentReference": "PT-1", "Amount": "12.34", "Memo": "ü"}
    response = await client(url).request(method, "/echo/x", json=payment)
    body = response.json()
    assert (body["method"], body["json"]) == (method, payment)
    headers = dict(body["headers"])
    assert headers["Content-Type"] == "application/json"
    assert int(headers["Content-Length"]) == body["length"]


async def test_ten_megabyte_upload(echo: tuple[Echo, str], client: Client) -> None:
    _, url = echo
    csv = b"PaymentID__c,Amount__c\n" + b"PT-0000000001,12.34\n" * 550_000
    assert len(csv) > 10 * 2**20
    headers = {"Content-Type": "text/csv"}
    response = await client(url).put("/echo/batches", content=csv, headers=headers)
    assert response.json()["length"] == len(csv)
    assert response.json()["sha256"] == hashlib.sha256(csv).hexdigest()


async def test_repeated_headers_both_ways(echo: tuple[Echo, str], client: Client) -> None:
    _, url = echo
    http = client(url)
    sent = await http.get("/echo/h", headers=[("X-Multi", "a"), ("X-Multi", "b")])
    assert [v for k, v in sent.json()["headers"] if k == "X-Multi"] == ["a", "b"]
    received = await http.get("/repeated")
    assert received.headers.get_list("X-Multi") == ["one", "two"]


async def test_credentials_in_the_url_go_as_httpx_sends_them(
    echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    response = await client(url.replace("http://", "http://user:pa%20ss@")).get("/echo/a")
    assert dict(response.json()["headers"])["Authorization"] == "Basic dXNlcjpwYSBzcw=="


@pytest.mark.parametrize("code", [200, 201, 400, 404, 429, 503])
async def test_status_codes_and_bodies_pass_through(
    code: int, echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    response = await client(url).get(f"/status/{code}")
    assert response.status_code == code
    assert response.json() == {"status": code}
    assert response.headers["Retry-After"] == "1"
    assert response.reason_phrase == httpx.codes.get_reason_phrase(code)
    assert response.http_version == "HTTP/1.1"


async def test_no_content_and_head(echo: tuple[Echo, str], client: Client) -> None:
    _, url = echo
    http = client(url)
    empty = await http.get("/status/204")
    assert (empty.status_code, empty.content, empty.text) == (204, b"", "")
    head = await http.head("/echo/h")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) > 0  # what a GET would have sent


async def test_gzip_is_decoded_by_httpx_as_with_its_own_transport(
    echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    ours = await client(url).get("/gzip")
    async with httpx.AsyncClient(base_url=url) as default:
        theirs = await default.get("/gzip")
    assert ours.json() == {"records": ["x" * 100] * 50}
    assert ours.content == theirs.content
    assert ours.headers["Content-Encoding"] == "gzip"
    assert ours.headers["Content-Length"] == theirs.headers["Content-Length"]
    assert len(ours.content) > int(ours.headers["Content-Length"])  # decoded, not raw


async def test_sequential_requests_reuse_one_connection(
    echo: tuple[Echo, str], client: Client
) -> None:
    server, url = echo
    http = client(url)
    for n in range(5):
        assert (await http.post("/echo/reuse", json={"n": n})).status_code == 200
    assert len(server.peers) == 5
    assert len(set(server.peers)) == 1


# --- failures become httpx's errors ----------------------------------------------------------


async def test_connection_refused_is_connect_error(client: Client) -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        with pytest.raises(httpx.ConnectError) as caught:
            await client(url).get("/x")
    assert caught.value.request.url == httpx.URL(url + "/x")
    assert is_retriable(caught.value)


async def test_server_past_the_read_timeout_is_read_timeout(
    echo: tuple[Echo, str], client: Client
) -> None:
    _, url = echo
    http = client(url, timeout=httpx.Timeout(CEILING, read=0.2))
    with pytest.raises(httpx.ReadTimeout) as caught:
        await http.get("/slow")
    assert caught.value.request.url.path == "/slow"
    assert is_retriable(caught.value)


async def test_connection_dropped_mid_response_is_a_transport_error(client: Client) -> None:
    raw = Raw(drop=True)
    server, url = await start_raw(raw)
    async with server:
        with pytest.raises(httpx.TransportError) as caught:
            await client(url).get("/cut")
    assert isinstance(caught.value, httpx.RemoteProtocolError)
    assert caught.value.request.url.path == "/cut"
    assert is_retriable(caught.value)


async def test_a_peer_that_stops_reading_the_body_is_write_timeout(client: Client) -> None:
    # aiohttp has no write timeout: the transport's watchdog (every phase's limit summed).
    raw = Raw(stall=True)
    server, url = await start_raw(raw)
    async with server:
        with pytest.raises(httpx.WriteTimeout):
            await client(url, timeout=0.2).post("/upload", content=b"x" * (64 << 20))
        raw.never.set()


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b"])
async def test_header_injection_is_refused_as_h11_refuses_it(
    value: str, echo: tuple[Echo, str], client: Client
) -> None:
    server, url = echo
    with pytest.raises(httpx.LocalProtocolError):
        await client(url).get("/echo/h", headers={"X-Id": value})
    assert server.peers == []


async def test_unsupported_scheme(client: Client) -> None:
    with pytest.raises(httpx.UnsupportedProtocol):
        await client("ftp://127.0.0.1").get("/x")


async def test_cancellation_is_not_swallowed(echo: tuple[Echo, str], client: Client) -> None:
    server, url = echo
    task = asyncio.create_task(client(url).get("/slow"))
    await asyncio.wait_for(server.arrived.wait(), CEILING)  # the request is in flight
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_proxies_from_the_environment_as_httpx_reads_them(
    monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    # httpx ignores HTTP_PROXY once given a transport; this one reads it (and NO_PROXY).
    proxy = Raw()
    server, proxy_url = await start_raw(proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    async with server:
        assert (await client("http://api.invalid").get("/x?q=1")).status_code == 200
        with pytest.raises(httpx.ConnectError):  # not through the proxy: DNS fails
            await client("http://direct.invalid").get("/x")
    assert proxy.lines == [b"GET http://api.invalid/x?q=1 HTTP/1.1"]


async def test_aclose_before_use_and_twice() -> None:
    unused = AiohttpTransport()
    await unused.aclose()
    await unused.aclose()
    used = AiohttpTransport()
    raw = Raw()
    server, url = await start_raw(raw)
    async with server, httpx.AsyncClient(transport=used) as http:
        assert (await http.get(url + "/x")).status_code == 200
    await used.aclose()  # the client closed it already


# --- URLs go out as httpx's default transport sends them -------------------------------------

segments = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=40)


async def _request_lines(path: str, query: str) -> list[bytes]:
    raw = Raw()
    server, base = await start_raw(raw)
    # httpx's default transport (verify=False only spares building a TLS context per example).
    default = httpx.AsyncHTTPTransport(verify=False)
    async with server:
        for transport in (default, AiohttpTransport()):
            async with httpx.AsyncClient(base_url=base, transport=transport) as http:
                await http.get(path, params={"v": query, "q": SOQL})
    return raw.lines


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(segment=segments, value=st.text(st.characters(categories=["L", "N", "P", "S", "Zs"])))
def test_paths_and_queries_round_trip_as_with_the_default_transport(
    segment: str, value: str
) -> None:
    path = "/api/" + segment
    try:
        httpx.Request("GET", "http://h" + path, params={"v": value})
    except httpx.InvalidURL:
        return  # httpx refuses it before any transport sees it
    default, ours = asyncio.run(_request_lines(path, value))
    assert ours == default
