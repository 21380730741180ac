"""``POST /v1/transactions/settle``: close the open batch on demand.

PayTrace settles automatically once a day; merchants on terminal-capture networks may also
settle through the API (help.paytrace.com "API Settling Transactions": the answer carries the
batch number, transaction count and net amount). The v1 JSON field names below are the
snake_case of those values; see EMULATOR.md.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.paytrace.emulator.render import amount, completed
from connectors.paytrace.emulator.state import EmulatorState, state_of


async def close_batch(state: EmulatorState) -> dict[str, Any]:
    async with state.mutation_lock:  # no void or refund lands half-way through the close
        batch = await state.store.settle(state.clock.now())
    if batch is None:
        return {"batch_number": None, "transaction_count": 0, "net_amount": 0}
    return {
        "batch_number": batch["batch_number"],
        "transaction_count": batch["transaction_count"],
        "net_amount": amount(batch["sales_cents"] - batch["refund_cents"]),
        "settled": state.clock.export_time(batch["settled_at"]),
    }


async def settle_transactions(request: web.Request) -> web.Response:
    return completed(**await close_batch(state_of(request)))


def add_settlement_routes(app: web.Application) -> None:
    app.router.add_post("/v1/transactions/settle", settle_transactions)
