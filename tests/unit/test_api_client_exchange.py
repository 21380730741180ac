"""``ApiClient.request`` hands its requests straight to the transport (``_exchange``), not
through ``httpx.AsyncClient.request``: the same request must go out, the same response and
errors come back, and what the shortcut does not cover must still go the full httpx way."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base.aiohttp_transport import AiohttpTransport
from connectors.base.errors import ConnectorError
from connectors.base.http import ApiClient
from connectors.base.retry import RetryPolicy, is_retriable
from tests.unit.test_aiohttp_transport import SOQL, Echo, Raw, start_raw

ONCE = RetryPolicy(attempts=1)


class Client(ApiClient):
    system = "test"

    async def authenticate(self) -> dict[str, str]:
        return {"Authorization": "Bearer token", "X-Company": "C1"}

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        return None


class FullWay(Client):
    """The same client sending through ``httpx.AsyncClient.request``, as before."""

    async def _exchange(
        self, method: str, path: str, headers: dict[str, str], options: dict[str, Any]
    ) -> httpx.Response:
        return await self.http.request(method, path, headers=headers, **options)


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    server = Echo()
    app = server.app()

    async def cookie(request: web.Request) -> web.Response:
        response = web.json_response({"cookie": request.headers.get("Cookie")})
        response.set_cookie("session", "s1")
        return response

    app.router.add_get("/cookie", cookie)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        server.never.set()
        await runner.cleanup()


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/echo/api/payments", {"json": {"PaymentReference": "PT-1", "Memo": "ü"}}),
    ("PUT", "echo/api/invoices/INV%2F1", {"json": {"Amount": "1.00"}, "timeout": 5.0}),
    ("GET", "/echo/api/invoices", {"params": [("InvoiceID", "a"), ("InvoiceID", "b c")]}),
    ("GET", "/echo/api/invoices", {"params": {"InvoiceID": ["a", "b"], "limit": "2"}}),
    ("GET", "/echo/query?stale=1", {"params": {"q": SOQL}}),
    ("GET", "/echo/query?kept=1", {}),
    ("PUT", "/echo/batches", {"content": b"a,b\n1,2\n", "headers": {"Content-Type": "text/csv"}}),
    ("POST", "/echo/form", {"data": {"grant_type": "password", "username": "ü"}}),
    ("DELETE", "/echo/api/x/../y", {}),
]


@pytest.mark.parametrize(("method", "path", "options"), CALLS)
@pytest.mark.parametrize("base", ["", "/echo/../"])
async def test_what_goes_out_and_comes_back_is_as_through_httpx(
    method: str, path: str, options: dict[str, Any], base: str, echo: str
) -> None:
    async with Client(echo + base, retry=ONCE) as ours, FullWay(echo + base, retry=ONCE) as full:
        mine = await ours.request(method, path, **options)
        theirs = await full.request(method, path, **options)
    assert mine.json() == theirs.json()  # method, raw path and query, headers in order, body
    assert mine.json()["method"] == method
    assert dict(mine.json()["headers"])["Authorization"] == "Bearer token"
    assert mine.request.url == theirs.request.url
    assert mine.request.extensions == theirs.request.extensions  # the timeouts
    assert (mine.status_code, mine.content, mine.text) == (
        theirs.status_code,
        theirs.content,
        theirs.text,
    )
    assert mine.headers.keys() == theirs.headers.keys()
    assert (mine.http_version, mine.reason_phrase) == ("HTTP/1.1", "OK")
    assert mine.elapsed.total_seconds() > 0
    assert mine.is_closed and mine.history == []


async def test_gzip_is_decoded(echo: str) -> None:
    async with Client(echo, retry=ONCE) as ours:
        response = await ours.request("GET", "/gzip")
    assert response.json() == {"records": ["x" * 100] * 50}


async def test_cookies_a_server_sets_go_back_as_httpx_sends_them(echo: str) -> None:
    async with Client(echo, retry=ONCE) as ours:
        assert (await ours.request("GET", "/cookie")).json() == {"cookie": None}
        assert ours.http.cookies["session"] == "s1"
        assert (await ours.request("GET", "/cookie")).json() == {"cookie": "session=s1"}


async def test_a_new_base_url_is_followed(echo: str) -> None:
    # Salesforce sets base_url to the instance URL its login answers.
    seen: list[httpx.URL] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(204)

    transport = httpx.MockTransport(answer)
    async with Client("http://login.invalid", retry=ONCE, transport=transport) as ours:
        await ours.request("GET", "/a")
        ours.http.base_url = httpx.URL("http://instance.invalid/sub")
        await ours.request("GET", "/a")
    assert [str(url) for url in seen] == ["http://login.invalid/a", "http://instance.invalid/sub/a"]


@pytest.mark.parametrize(
    "path", ["http://other.invalid/x", "//other.invalid/x", "/a#frag", "urn:x"]
)
async def test_urls_the_shortcut_leaves_to_httpx(path: str) -> None:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(handle)
    async with (
        Client("http://base.invalid", retry=ONCE, transport=transport) as ours,
        httpx.AsyncClient(base_url="http://base.invalid", transport=transport) as http,
    ):
        try:
            expected: httpx.URL | None = http.build_request("GET", path).url
        except httpx.HTTPError:
            expected = None
        if expected is None:
            with pytest.raises(httpx.HTTPError):
                await ours.request("GET", path)
        else:
            await ours.request("GET", path)
            assert sent[-1].url == expected


async def test_what_the_shortcut_does_not_do_goes_through_httpx() -> None:
    hooked: list[str] = []

    async def hook(request: httpx.Request) -> None:
        hooked.append(request.url.path)

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    async with Client("http://base.invalid", retry=ONCE, transport=transport) as ours:
        ours.http.event_hooks = {"request": [hook], "response": []}
        await ours.request("GET", "/hooked")
        ours.http.event_hooks = {"request": [], "response": []}
        await ours.request("GET", "/not")
        await ours.request("GET", "/ext", extensions={"trace": None})  # an option it lacks
    assert hooked == ["/hooked"]


async def test_a_redirect_is_returned_not_followed(echo: str) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(302, headers={"Location": "/elsewhere"})
    )
    async with Client("http://base.invalid", retry=ONCE, transport=transport) as ours:
        response = await ours.request("GET", "/moved")
    assert response.status_code == 302
    assert response.request.url == httpx.URL("http://base.invalid/moved")


async def test_transport_errors_are_httpx_errors_with_their_request() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")  # no request attached, as a mock may raise it

    async with Client(
        "http://base.invalid", retry=ONCE, transport=httpx.MockTransport(refuse)
    ) as c:
        with pytest.raises(httpx.ConnectError) as caught:
            await c.request("POST", "/api/payments", json={})
    assert caught.value.request.url == httpx.URL("http://base.invalid/api/payments")


async def test_connection_refused_on_the_real_transport() -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        async with Client(url, retry=ONCE) as ours:
            with pytest.raises(httpx.ConnectError) as caught:
                await ours.request("GET", "/x")
    assert caught.value.request.url == httpx.URL(url + "/x")
    assert is_retriable(caught.value)


async def test_a_read_timeout_per_call(echo: str) -> None:
    async with Client(echo, retry=ONCE) as ours:
        with pytest.raises(httpx.ReadTimeout):
            await ours.request("GET", "/slow", timeout=httpx.Timeout(30.0, read=0.2))


async def test_a_closed_client_refuses_as_httpx_does(echo: str) -> None:
    ours = Client(echo, retry=ONCE)
    await ours.aclose()
    with pytest.raises(RuntimeError, match="client has been closed"):
        await ours.request("GET", "/echo/x")


async def test_the_default_transport_is_aiohttp() -> None:
    async with Client("http://base.invalid") as ours:
        assert isinstance(ours._transport, AiohttpTransport)


# --- URLs go out as through httpx on its default transport ------------------------------------

segments = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=40)
values = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=20)


Params = list[tuple[str, str | int | float | bool | None]]  # what httpx's params= accepts


async def _request_lines(path: str, params: Params) -> list[bytes]:
    raw = Raw()
    server, base = await start_raw(raw)
    async with server:
        default = httpx.AsyncHTTPTransport(verify=False)  # only spares a TLS context
        async with httpx.AsyncClient(base_url=base + "/v1", transport=default) as http:
            await http.get(path, params=params)
        async with Client(base + "/v1", retry=ONCE) as ours:
            await ours.request("GET", path, params=params)
    return raw.lines


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    slash=st.booleans(),
    segment=segments,
    params=st.lists(st.tuples(st.sampled_from(["InvoiceID", "q", "é"]), values), max_size=4),
)
def test_paths_and_queries_go_out_as_httpx_sends_them(
    slash: bool, segment: str, params: Params
) -> None:
    path = ("/" if slash else "") + "api/" + segment
    try:
        httpx.AsyncClient(base_url="http://h/v1").build_request("GET", path, params=params)
    except httpx.InvalidURL:
        return  # httpx refuses it before any transport sees it
    lines = asyncio.run(_request_lines(path, params))
    assert len(lines) == 2
    assert lines[1] == lines[0]
