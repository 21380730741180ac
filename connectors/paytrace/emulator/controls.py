"""Emulator-only controls under ``/_emulator/``: settle, expire tokens, reset, shift the clock.

The real API's settle is ``POST /v1/transactions/settle`` (settlement.py); the control here
closes the same batch without a token, for tests."""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, json_response
from connectors.paytrace.emulator.settlement import close_batch
from connectors.paytrace.emulator.state import state_of


async def settle(request: web.Request) -> web.Response:
    """Close the open batch, as PayTrace's daily settlement does (no auth: tests' shortcut)."""
    return json_response(await close_batch(state_of(request)))


async def expire_tokens(request: web.Request) -> web.Response:
    state = state_of(request)
    for token in state.tokens:
        state.tokens[token] = 0.0
    return json_response({"expired": len(state.tokens)})


async def reset(request: web.Request) -> web.Response:
    """Empty the store, clear faults and the clock offset. Issued tokens stay valid."""
    state = state_of(request)
    await state.store.reset()
    state.faults.reset()
    state.served.clear()
    state.clock.offset_seconds = 0.0
    return json_response({"ok": True})


async def shift_clock(request: web.Request) -> web.Response:
    """``{"offset_seconds": s}`` sets the offset from real time; ``{"advance_seconds": s}`` adds."""
    state = state_of(request)
    body = await request.json() if request.can_read_body else {}
    if "offset_seconds" in body:
        state.clock.offset_seconds = float(body["offset_seconds"])
    if "advance_seconds" in body:
        state.clock.offset_seconds += float(body["advance_seconds"])
    return json_response(
        {
            "offset_seconds": state.clock.offset_seconds,
            "now": state.clock.export_time(state.clock.now()),
            "timezone": state.config.timezone,
        }
    )


def add_control_routes(app: web.Application) -> None:
    app.router.add_post(CONTROL_PREFIX + "settle", settle)
    app.router.add_post(CONTROL_PREFIX + "expire_tokens", expire_tokens)
    app.router.add_post(CONTROL_PREFIX + "reset", reset)
    app.router.add_post(CONTROL_PREFIX + "clock", shift_clock)
