"""Emulator-only routes under /_emulator/: wipe everything, or read everything at once."""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, Faults, json_response
from connectors.sagepro.emulator.store import (
    INVOICE_LIST_SQL,
    SageStore,
    credit_memo_out,
    customer_out,
    gl_account_out,
    invoice_out,
    order_out,
    payment_out,
)


def add_control_routes(app: web.Application, store: SageStore, faults: Faults) -> None:
    async def reset(_: web.Request) -> web.Response:
        faults.reset()
        await store.reset()
        return json_response({"ok": True})

    async def state(_: web.Request) -> web.Response:
        """Every record, for a demo's final check (no paging: emulator data is small)."""
        entries = await store.fetchall("SELECT * FROM journal_entries ORDER BY seq")
        return json_response(
            {
                "customers": [
                    customer_out(r)
                    for r in await store.fetchall("SELECT * FROM customers ORDER BY customer_id")
                ],
                "invoices": [
                    invoice_out(r)
                    for r in await store.fetchall(INVOICE_LIST_SQL + " ORDER BY invoice_id")
                ],
                "orders": [
                    order_out(r)
                    for r in await store.fetchall("SELECT * FROM orders ORDER BY order_number")
                ],
                "payments": [
                    payment_out(r)
                    for r in await store.fetchall("SELECT * FROM payments ORDER BY seq")
                ],
                "journal_entries": [await store.journal_out(r) for r in entries],
                "credit_memos": [
                    credit_memo_out(r)
                    for r in await store.fetchall("SELECT * FROM credit_memos ORDER BY seq")
                ],
                "gl_accounts": [
                    gl_account_out(r)
                    for r in await store.fetchall("SELECT * FROM gl_accounts ORDER BY 1")
                ],
            }
        )

    app.router.add_post(CONTROL_PREFIX + "reset", reset)
    app.router.add_get(CONTROL_PREFIX + "state", state)
