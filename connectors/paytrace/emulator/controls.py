"""Emulator-only controls under ``/_emulator/``: settle, expire tokens, reset, shift the clock."""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, json_response
from connectors.paytrace.emulator.render import amount
from connectors.paytrace.emulator.state import state_of


async def settle(request: web.Request) -> web.Response:
    """Close the open batch, as PayTrace's daily settlement does."""
    state = state_of(request)
    batch = await state.store.settle(state.clock.now())
    if batch is None:
        return json_response({"batch_number": None, "transaction_count": 0, "net_amount": 0})
    return json_response(
        {
            "batch_number": batch["batch_number"],
            "transaction_count": batch["transaction_count"],
            "net_amount": amount(batch["sales_cents"] - batch["refund_cents"]),
            "settled": state.clock.export_time(batch["settled_at"]),
        }
    )


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
