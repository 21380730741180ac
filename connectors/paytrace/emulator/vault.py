"""``/v1/customer/*``: the customer vault. Keeps a masked card and a vault token, never a PAN."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from aiohttp import web

from connectors.base.emulator import json_response
from connectors.paytrace.emulator.render import (
    address_to_db,
    completed,
    customer_record,
    error_response,
)
from connectors.paytrace.emulator.rules import (
    ERR_CUSTOMER_NOT_FOUND,
    ERR_DUPLICATE_CUSTOMER,
    ERR_REQUEST,
    RequestError,
    Validation,
    parse_card,
)
from connectors.paytrace.emulator.state import read_json, state_of, text
from connectors.paytrace.emulator.store import Row


def _card_columns(raw: Any, state_today: Any) -> dict[str, Any]:
    card = parse_card(raw, state_today)
    return {
        "masked_number": card.masked_number,
        "last_four": card.last_four,
        "card_type": card.card_type,
        "expiration_month": card.expiration_month,
        "expiration_year": card.expiration_year,
        "always_declines": int(card.always_declines),
    }


def _name(billing_address: str | None) -> str:
    return str(orjson.loads(billing_address).get("name", "")) if billing_address else ""


def _profile_message(customer_id: str, billing_address: str | None, verb: str) -> str:
    return (
        f"The customer profile for {customer_id}/{_name(billing_address)} was successfully {verb}."
    )


async def _existing(request: web.Request, customer_id: str) -> Row:
    row = await state_of(request).store.customer(customer_id) if customer_id else None
    if row is None:
        message = f"Customer ID, {customer_id}, was not found or is incomplete."
        raise RequestError(ERR_CUSTOMER_NOT_FOUND, message)
    return row


async def create_customer(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        customer_id = text(body, "customer_id")
        checks = Validation()
        if not customer_id:
            checks.errors[ERR_REQUEST] = "Please provide a valid Customer ID."
        card = checks.check(lambda: _card_columns(body.get("credit_card"), state.clock.today()))
        checks.done()
    except RequestError as error:
        return error_response(error)
    assert card is not None
    now = state.clock.now()
    billing = address_to_db(body.get("billing_address"))
    added = await state.store.add_customer(
        {
            "customer_id": customer_id,
            "vault_token": secrets.token_hex(16),
            **card,
            "billing_address": billing,
            "shipping_address": address_to_db(body.get("shipping_address")),
            "email": text(body, "email"),
            "phone": text(body, "phone"),
            "fax": text(body, "fax"),
            "created_at": now,
            "created_by": state.config.username,
            "from_ip": request.remote or "",
            "updated_at": now,
        }
    )
    if not added:
        return error_response(RequestError(ERR_DUPLICATE_CUSTOMER))
    return json_response(
        {
            "success": True,
            "response_code": 160,
            "status_message": _profile_message(customer_id, billing, "created"),
            "customer_id": customer_id,
            "masked_card_number": card["masked_number"],
        }
    )


async def update_customer(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        customer_id = text(body, "customer_id")
        row = await _existing(request, customer_id)
        changes: dict[str, Any] = {"updated_at": state.clock.now()}
        if body.get("credit_card"):
            changes.update(_card_columns(body["credit_card"], state.clock.today()))
    except RequestError as error:
        return error_response(error)
    for key in ("billing_address", "shipping_address"):
        if isinstance(body.get(key), dict):
            changes[key] = address_to_db(body[key])
    for key in ("email", "phone", "fax"):
        if body.get(key) is not None:
            changes[key] = text(body, key)
    new_id = text(body, "new_id")
    if new_id and new_id != customer_id:
        changes["customer_id"] = new_id
    if not await state.store.update_customer(customer_id, changes):
        return error_response(RequestError(ERR_DUPLICATE_CUSTOMER))
    final_id = new_id or customer_id
    billing = changes.get("billing_address", row["billing_address"])
    return json_response(
        {
            "success": True,
            "response_code": 161,
            "status_message": _profile_message(final_id, billing, "updated"),
            "customer_id": final_id,
            "masked_card_number": changes.get("masked_number", row["masked_number"]),
        }
    )


async def delete_customer(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        customer_id = text(body, "customer_id")
        row = await _existing(request, customer_id)
    except RequestError as error:
        return error_response(error)
    await state.store.delete_customer(customer_id)
    return json_response(
        {
            "success": True,
            "response_code": 162,
            "status_message": _profile_message(customer_id, row["billing_address"], "deleted"),
            "customer_id": customer_id,
        }
    )


async def export_customers(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
    except RequestError as error:
        return error_response(error)
    rows = await state.store.customers(text(body, "customer_id"), text(body, "email"))
    return completed(customers=[customer_record(row, state.clock) for row in rows])


def add_vault_routes(app: web.Application) -> None:
    app.router.add_post("/v1/customer/create", create_customer)
    app.router.add_post("/v1/customer/update", update_customer)
    app.router.add_post("/v1/customer/delete", delete_customer)
    app.router.add_post("/v1/customer/export", export_customers)
