"""The Sage Pro emulator application: our REST contract, API-key auth, Sage-shaped errors.

Sage Pro has no public REST API; this serves the contract paystream defines (see README.md).
Emulator-only controls live under ``/_emulator/``: faults (from the base), reset, state.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from connectors.base.emulator import (
    CONTROL_PREFIX,
    Faults,
    Handler,
    add_fault_routes,
    fault_middleware,
    json_response,
)
from connectors.sagepro.emulator.problems import ApiError, status_error
from connectors.sagepro.emulator.routes_control import add_control_routes
from connectors.sagepro.emulator.routes_ledger import add_ledger_routes
from connectors.sagepro.emulator.routes_records import STORE_KEY, add_record_routes
from connectors.sagepro.emulator.store import SageStore

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-Api-Key"
FAULTS_KEY: web.AppKey[Faults] = web.AppKey("sagepro_faults", Faults)


class EmulatorConfig(BaseModel):
    api_key: str = "demo-sage-key"
    data_dir: Path | None = None  # None: an in-memory database, gone when the app stops


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "BAD_REQUEST")
        return ApiError(exc.status, code, exc.reason).response()
    except Exception:
        log.exception("sagepro emulator: unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "INTERNAL_ERROR", "unexpected server error").response()


def auth_middleware(api_key: str) -> Any:
    expected = api_key.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            given = request.headers.get(API_KEY_HEADER, "").encode()
            if not given or not hmac.compare_digest(given, expected):
                reason = "missing" if not given else "not recognised"
                return ApiError(
                    401,
                    "UNAUTHORIZED",
                    f"API key {reason}",
                    [{"field": API_KEY_HEADER, "issue": reason}],
                ).response()
        return await handler(request)

    return middleware


def create_app(config: EmulatorConfig) -> web.Application:
    faults = Faults()

    def render_fault(status: int) -> web.Response:
        retry_after = float(faults.extra.get("retry_after", 1)) if status == 429 else None
        return status_error(status, retry_after)

    store = SageStore(config.data_dir)
    app = web.Application(
        middlewares=[
            error_middleware,
            fault_middleware(faults, render_fault),
            auth_middleware(config.api_key),
        ]
    )
    app[STORE_KEY] = store
    app[FAULTS_KEY] = faults
    store.attach(app)
    add_record_routes(app)
    add_ledger_routes(app)
    add_fault_routes(app, faults)
    add_control_routes(app, store, faults)

    async def health(_: web.Request) -> web.Response:
        return json_response({"ok": True, "system": "sagepro"})

    app.router.add_get(CONTROL_PREFIX + "health", health)
    return app
