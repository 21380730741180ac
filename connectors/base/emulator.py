"""Plumbing shared by the emulators: an aiohttp server on loopback, SQLite state, faults.

Emulator-only controls live under ``/_emulator/`` so they are never mistaken for the API.
Faults (latency, 5xx, throttling) are injected by a middleware every emulator installs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import orjson
from aiohttp import web

CONTROL_PREFIX = "/_emulator/"

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


def fault_middleware(faults: Faults, render_error: ErrorRenderer) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.down_until and asyncio.get_running_loop().time() < faults.down_until:
            return render_error(503)
        if faults.error_count > 0 and request.path.startswith(faults.error_path_prefix):
            faults.error_count -= 1
            return render_error(faults.error_status or 500)
        return await handler(request)

    return middleware


def add_fault_routes(app: web.Application, faults: Faults) -> None:
    async def set_faults(request: web.Request) -> web.Response:
        faults.update(await request.json())
        return json_response({"ok": True})

    async def clear_faults(request: web.Request) -> web.Response:
        faults.reset()
        return json_response({"ok": True})

    app.router.add_post(CONTROL_PREFIX + "faults", set_faults)
    app.router.add_delete(CONTROL_PREFIX + "faults", clear_faults)


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
