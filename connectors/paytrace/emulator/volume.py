"""Emulator-only volume controls: seed a day of transactions in one request and read how
many records each export endpoint served (what a poller costs).

Seeding writes the same rows an approved ``sale/keyed`` writes, with creation times spread
evenly over ``[start, end)``, so a test or bench gets 100,000 transactions without 100,000
HTTP sales."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, json_response
from connectors.paytrace.emulator.state import state_of

MAX_SEED = 1_000_000


async def seed(request: web.Request) -> web.Response:
    """``{"count": n, "start": epoch, "end": epoch, "amount_cents": c, "invoice_prefix": p}``;
    start/end default to the last ``count`` seconds of the emulator clock."""
    state = state_of(request)
    body: dict[str, Any] = await request.json() if request.can_read_body else {}
    count = int(body.get("count", 0))
    if not 0 < count <= MAX_SEED:
        return json_response({"error": f"count must be 1..{MAX_SEED}"}, status=400)
    end = float(body.get("end", state.clock.now()))
    start = float(body.get("start", end - count))
    if end <= start:
        return json_response({"error": "end must be after start"}, status=400)
    cents = int(body.get("amount_cents", 1000))
    prefix = str(body.get("invoice_prefix", "SEED"))
    step = (end - start) / count

    def build(index: int, transaction_id: int) -> dict[str, Any]:
        return {
            "transaction_type": "SALE",
            "status": "APPROVED",
            "response_code": 101,
            "status_message": "Your transaction was successfully approved.",
            "amount_cents": cents,
            "authorized_cents": cents,
            "invoice_id": f"{prefix}-{index}",
            "masked_number": "411111******1111",
            "last_four": "1111",
            "card_type": "VISA",
            "expiration_month": 12,
            "expiration_year": 2035,
            "approval_code": f"TAS{transaction_id % 1000:03d}",
            "approval_message": "  NO  MATCH - Approved and completed",
            "created_at": start + index * step,
            "created_by": state.config.username,
        }

    first = await state.store.add_transactions(build, count)
    return json_response({"first_transaction_id": first, "count": count})


async def served(request: web.Request) -> web.Response:
    state = state_of(request)
    return json_response({"served": dict(state.served), "total": sum(state.served.values())})


async def clear_served(request: web.Request) -> web.Response:
    state_of(request).served.clear()
    return json_response({"ok": True})


def add_volume_routes(app: web.Application) -> None:
    app.router.add_post(CONTROL_PREFIX + "seed", seed)
    app.router.add_get(CONTROL_PREFIX + "served", served)
    app.router.add_delete(CONTROL_PREFIX + "served", clear_served)
