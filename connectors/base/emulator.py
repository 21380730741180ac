"""Plumbing shared by the emulators: an aiohttp server on loopback, SQLite state, faults.

Emulator-only controls live under ``/_emulator/`` so they are never mistaken for the API.
Faults (latency, 5xx, throttling) are injected by a middleware every emulator installs; the
same middleware keeps a log of every request's method and raw path (``GET /_emulator/requests``)
so tests can check that a client never asked for anything outside the API's resources.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
from aiohttp import web

CONTROL_PREFIX = "/_emulator/"
REQUEST_LOG_LIMIT = 200_000  # oldest entries go first; ``dropped`` says how many

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorRenderer = Callable[[int], web.Response]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, default=str),
        status=status,
        content_type="application/json",
        headers=headers,
    )


@dataclass
class Faults:
    """What the next API requests should suffer. Set through ``POST /_emulator/faults``."""

    latency_ms: int = 0
    error_status: int = 0
    error_count: int = 0  # how many of the next API calls fail with error_status
    error_path_prefix: str = ""
    down_until: float = 0.0  # loop time until which every API call gets 503
    # Every API call whose raw path, query or body contains this text fails with error_status
    # (500 when unset) until the faults are cleared: a server error for one id, for good.
    error_match: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key == "down_seconds":
                self.down_until = asyncio.get_running_loop().time() + float(value)
            elif hasattr(self, key) and key != "extra":
                setattr(self, key, type(getattr(self, key))(value))
            else:
                self.extra[key] = value

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class RequestLog:
    """Method, raw path (percent-encoding and query kept) and status of each API request."""

    def __init__(self, limit: int = REQUEST_LOG_LIMIT) -> None:
        self.entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self.total = 0

    def add(self, method: str, raw_path: str, status: int | None) -> None:
        self.entries.append({"method": method, "raw_path": raw_path, "status": status})
        self.total += 1

    def clear(self) -> None:
        self.entries.clear()
        self.total = 0

    def view(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "dropped": self.total - len(self.entries),
            "requests": list(self.entries),
        }


REQUEST_LOG_KEY = web.AppKey("paystream_request_log", RequestLog)


def request_log(app: web.Application) -> RequestLog | None:
    return app.get(REQUEST_LOG_KEY)


async def _matches(request: web.Request, text: str) -> bool:
    if text in request.raw_path:  # raw_path carries the query string too
        return True
    if not request.can_read_body:
        return False
    body = await request.read()  # cached by aiohttp: the handler can still read it
    return text.encode() in body


def fault_middleware(faults: Faults, render_error: ErrorRenderer) -> Any:
    @web.middleware
    async def logging_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        log = request_log(request.app)
        status: int | None = None
        try:
            response = await middleware(request, handler)
            status = response.status
            return response
        except Exception as exc:  # HTTPException and the emulators' own API errors carry it
            status = getattr(exc, "status", None)
            raise
        finally:
            if log is not None:
                log.add(request.method, request.raw_path, status)

    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down_until and asyncio.get_running_loop().time() < faults.down_until:
            return render_error(503)
        if faults.error_count > 0 and request.path.startswith(faults.error_path_prefix):
            faults.error_count -= 1
            return render_error(faults.error_status or 500)
        if faults.error_match and await _matches(request, faults.error_match):
            return render_error(faults.error_status or 500)
        return await handler(request)

    return logging_middleware


def add_fault_routes(app: web.Application, faults: Faults) -> None:
    async def set_faults(request: web.Request) -> web.Response:
        faults.update(await request.json())
        return json_response({"ok": True})

    async def clear_faults(request: web.Request) -> web.Response:
        faults.reset()
        return json_response({"ok": True})

    log = RequestLog()
    app[REQUEST_LOG_KEY] = log

    async def get_requests(request: web.Request) -> web.Response:
        return json_response(log.view())

    async def clear_requests(request: web.Request) -> web.Response:
        log.clear()
        return json_response({"ok": True})

    app.router.add_post(CONTROL_PREFIX + "faults", set_faults)
    app.router.add_delete(CONTROL_PREFIX + "faults", clear_faults)
    app.router.add_get(CONTROL_PREFIX + "requests", get_requests)
    app.router.add_delete(CONTROL_PREFIX + "requests", clear_requests)


class Store:
    """One SQLite database per emulator, opened on app start and closed on cleanup."""

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = str(path)
        self.schema = schema
        self._db: aiosqlite.Connection | None = None
        self.lock = asyncio.Lock()  # serialise multi-statement changes

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("store not open")
        return self._db

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        self._db.row_factory = aiosqlite.Row
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.executescript(self.schema)
        await self._db.commit()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def fetchone(self, sql: str, *args: Any) -> aiosqlite.Row | None:
        async with self.db.execute(sql, args) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, *args: Any) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, args) as cur:
            return list(await cur.fetchall())

    def attach(self, app: web.Application) -> None:
        async def ctx(_: web.Application) -> Any:
            await self.open()
            yield
            await self.close()

        app.cleanup_ctx.append(ctx)


class EmulatorServer:
    """Runs an aiohttp application on ``host:port`` (0 picks a free port)."""

    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> EmulatorServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and not self.port:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
