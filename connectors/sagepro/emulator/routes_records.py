"""/api/customers, /api/invoices, /api/orders: create (POST), read (GET), change (PUT), list."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.base.emulator import json_response
from connectors.sagepro.emulator.accounting import check_new_total
from connectors.sagepro.emulator.listing import list_response
from connectors.sagepro.emulator.parsing import Fields, read_body
from connectors.sagepro.emulator.problems import duplicate, not_found
from connectors.sagepro.emulator.store import (
    INVOICE_LIST_SQL,
    SageStore,
    customer_out,
    invoice_out,
    now,
    order_out,
    totals_of,
)

STORE_KEY: web.AppKey[SageStore] = web.AppKey("sagepro_store", SageStore)
ORDER_STATUSES = {"Open", "Paid", "Fulfilled", "Cancelled"}
PAYMENT_STATUSES = {"Paid", "Failed", "Refunded", "Voided", "OnAccount"}


def _store(request: web.Request) -> SageStore:
    return request.app[STORE_KEY]


async def _require_customer(store: SageStore, customer_id: str | None) -> None:
    if customer_id is not None and await store.customer(customer_id) is None:
        raise not_found("CUSTOMER_NOT_FOUND", "CustomerID", customer_id)


# --- customers -------------------------------------------------------------------------


_CUSTOMER_FIELDS = (
    ("Name", "name", True),
    ("Email", "email", False),
    ("Phone", "phone", False),
    ("PayTraceCustomerID", "paytrace_customer_id", False),
    ("Memo", "memo", False),
)


def _customer_values(fields: Fields) -> dict[str, Any]:
    values = {
        column: fields.text(name, required=required)
        for name, column, required in _CUSTOMER_FIELDS
        if fields.has(name) or not fields.partial
    }
    email = values.get("email")
    if email is not None and "@" not in email:
        fields.issue("Email", "must be an email address")
    fields.check()
    return values


async def create_customer(request: web.Request) -> web.Response:
    store = _store(request)
    fields = Fields(await read_body(request))
    customer_id = fields.text("CustomerID")
    values = _customer_values(fields)
    async with store.lock:
        if customer_id is not None:
            existing = await store.customer(customer_id)
            if existing is not None:
                raise duplicate("DUPLICATE_CUSTOMER", "CustomerID", customer_id, existing)
        else:
            customer_id = await store.next_id("customers", "customer_id", "CUST-")
        await store.insert("customers", {"customer_id": customer_id, **values, "created_at": now()})
        await store.db.commit()
    return json_response(await store.customer(customer_id), status=201)


async def get_customer(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).customer(key)
    if record is None:
        raise not_found("CUSTOMER_NOT_FOUND", "CustomerID", key)
    return json_response(record)


async def update_customer(request: web.Request) -> web.Response:
    store, key = _store(request), request.match_info["key"]
    values = _customer_values(Fields(await read_body(request), partial=True))
    async with store.lock:
        if await store.customer(key) is None:
            raise not_found("CUSTOMER_NOT_FOUND", "CustomerID", key)
        await store.update("customers", "customer_id", key, values)
        await store.db.commit()
    return json_response(await store.customer(key))


async def list_customers(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        "SELECT * FROM customers",
        {
            "CustomerID": "customer_id",
            "Email": "email",
            "Name": "name",
            "PayTraceCustomerID": "paytrace_customer_id",
        },
        customer_out,
        order_by="customer_id",
    )


# --- invoices --------------------------------------------------------------------------


async def create_invoice(request: web.Request) -> web.Response:
    store = _store(request)
    fields = Fields(await read_body(request))
    invoice_id = fields.text("InvoiceID")
    customer_id = fields.text("CustomerID", required=True)
    invoice_date = fields.day("InvoiceDate", required=True)
    due_date = fields.day("DueDate")
    total = fields.cents("TotalAmount", required=True)
    order_number, memo = fields.text("OrderNumber"), fields.text("Memo")
    needs_review = fields.flag("NeedsReview")
    fields.check()
    async with store.lock:
        if invoice_id is not None:
            existing = await store.invoice(invoice_id)
            if existing is not None:
                raise duplicate("DUPLICATE_INVOICE", "InvoiceID", invoice_id, existing)
        else:
            invoice_id = await store.next_id("invoices", "invoice_id", "INV-")
        await _require_customer(store, customer_id)
        await store.insert(
            "invoices",
            {
                "invoice_id": invoice_id,
                "customer_id": customer_id,
                "invoice_date": str(invoice_date),
                "due_date": due_date.isoformat() if due_date else None,
                "total_cents": total,
                "order_number": order_number,
                "memo": memo,
                "needs_review": int(bool(needs_review)),
                "created_at": now(),
            },
        )
        await store.db.commit()
    return json_response(await store.invoice(invoice_id), status=201)


async def get_invoice(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).invoice(key)
    if record is None:
        raise not_found("INVOICE_NOT_FOUND", "InvoiceID", key)
    return json_response(record)


async def update_invoice(request: web.Request) -> web.Response:
    store, key = _store(request), request.match_info["key"]
    fields = Fields(await read_body(request), partial=True)
    values: dict[str, Any] = {}
    if fields.has("DueDate"):
        due = fields.day("DueDate")
        values["due_date"] = due.isoformat() if due else None
    if fields.has("TotalAmount"):
        values["total_cents"] = fields.cents("TotalAmount", required=True)
    for name, column in (("OrderNumber", "order_number"), ("Memo", "memo")):
        if fields.has(name):
            values[column] = fields.text(name)
    if fields.has("NeedsReview"):
        values["needs_review"] = int(bool(fields.flag("NeedsReview")))
    if fields.has("CustomerID") or fields.has("InvoiceID"):
        fields.issue("CustomerID/InvoiceID", "cannot be changed")
    fields.check()
    async with store.lock:
        row = await store.invoice_row(key)
        if row is None:
            raise not_found("INVOICE_NOT_FOUND", "InvoiceID", key)
        if values.get("total_cents") is not None:
            check_new_total(totals_of(row), values["total_cents"])
        await store.update("invoices", "invoice_id", key, values)
        await store.db.commit()
    return json_response(await store.invoice(key))


async def list_invoices(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        INVOICE_LIST_SQL,
        {
            "InvoiceID": "invoice_id",
            "CustomerID": "customer_id",
            "Status": "status",
            "OrderNumber": "order_number",
        },
        invoice_out,
        order_by="invoice_id",
        date_column="invoice_date",
        bool_filters={"NeedsReview": "needs_review"},
    )


# --- orders ----------------------------------------------------------------------------


def _order_values(fields: Fields) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if fields.has("CustomerID") or not fields.partial:
        values["customer_id"] = fields.text("CustomerID", required=True)
    if fields.has("OrderDate") or not fields.partial:
        day = fields.day("OrderDate", required=True)
        values["order_date"] = day.isoformat() if day else None
    if fields.has("TotalAmount") or not fields.partial:
        values["total_cents"] = fields.cents("TotalAmount", required=True)
    if fields.has("Status") or not fields.partial:
        values["status"] = fields.choice("Status", ORDER_STATUSES, default="Open")
    if fields.has("PaymentStatus"):
        values["payment_status"] = fields.choice("PaymentStatus", PAYMENT_STATUSES)
    for name, column in (
        ("PaymentReference", "payment_reference"),
        ("InvoiceID", "invoice_id"),
        ("Memo", "memo"),
    ):
        if fields.has(name):
            values[column] = fields.text(name)
    if fields.has("NeedsReview"):
        values["needs_review"] = int(bool(fields.flag("NeedsReview")))
    fields.check()
    return values


async def create_order(request: web.Request) -> web.Response:
    store = _store(request)
    fields = Fields(await read_body(request))
    order_number = fields.text("OrderNumber")
    values = _order_values(fields)
    async with store.lock:
        if order_number is not None:
            existing = await store.order(order_number)
            if existing is not None:
                raise duplicate("DUPLICATE_ORDER", "OrderNumber", order_number, existing)
        else:
            order_number = await store.next_id("orders", "order_number", "SO-")
        await _require_customer(store, values["customer_id"])
        await store.insert("orders", {"order_number": order_number, **values, "created_at": now()})
        await store.db.commit()
    return json_response(await store.order(order_number), status=201)


async def get_order(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).order(key)
    if record is None:
        raise not_found("ORDER_NOT_FOUND", "OrderNumber", key)
    return json_response(record)


async def update_order(request: web.Request) -> web.Response:
    store, key = _store(request), request.match_info["key"]
    fields = Fields(await read_body(request), partial=True)
    values = _order_values(fields)
    async with store.lock:
        if await store.order(key) is None:
            raise not_found("ORDER_NOT_FOUND", "OrderNumber", key)
        if "customer_id" in values:
            await _require_customer(store, values["customer_id"])
        if values.get("invoice_id") and await store.invoice(values["invoice_id"]) is None:
            raise not_found("INVOICE_NOT_FOUND", "InvoiceID", values["invoice_id"])
        await store.update("orders", "order_number", key, values)
        await store.db.commit()
    return json_response(await store.order(key))


async def list_orders(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        "SELECT * FROM orders",
        {"CustomerID": "customer_id", "Status": "status", "PaymentReference": "payment_reference"},
        order_out,
        order_by="order_number",
        date_column="order_date",
    )


def add_record_routes(app: web.Application) -> None:
    for collection, create, get, update, listing in (
        ("customers", create_customer, get_customer, update_customer, list_customers),
        ("invoices", create_invoice, get_invoice, update_invoice, list_invoices),
        ("orders", create_order, get_order, update_order, list_orders),
    ):
        app.router.add_post(f"/api/{collection}", create)
        app.router.add_get(f"/api/{collection}", listing)
        app.router.add_get(f"/api/{collection}/{{key}}", get)
        app.router.add_put(f"/api/{collection}/{{key}}", update)
