"""``/v1/transactions/*``: sales, authorizations, capture, void and refunds.

Capture and void change the original transaction (same ``transaction_id``); a refund is a
new REFUND transaction that names its original in ``original_transaction_id``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.paytrace.emulator.render import (
    address_to_db,
    billing_zip,
    error_response,
    outcome_response,
)
from connectors.paytrace.emulator.rules import (
    ERR_CUSTOMER_NOT_FOUND,
    ERR_NOT_SETTLED,
    ERR_TRANSACTION_ID,
    STATUS_MESSAGES,
    Card,
    Decision,
    RequestError,
    Validation,
    decide,
    parse_card,
    parse_cents,
)
from connectors.paytrace.emulator.state import EmulatorState, read_json, state_of, text
from connectors.paytrace.emulator.store import Row

SALE, AUTHORIZATION, REFUND = "SALE", "AUTHORIZATION", "REFUND"


def _result(
    code: int,
    transaction_id: int | None,
    *,
    decision: Decision | None = None,
    masked: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": code in {101, 106, 109, 112},
        "response_code": code,
        "status_message": message or STATUS_MESSAGES[code],
        "transaction_id": transaction_id,
    }
    if decision is not None:
        body.update(
            approval_code=decision.approval_code,
            approval_message=decision.approval_message,
            avs_response=decision.avs_response,
            csc_response=decision.csc_response,
        )
    body["external_transaction_id"] = ""
    if masked is not None:
        body["masked_card_number"] = masked
    return body


def _common_fields(
    request: web.Request, state: EmulatorState, body: dict[str, Any], checks: Validation
) -> dict:
    tax = checks.check(lambda: parse_cents(body.get("tax_amount"), required=False))
    return {
        "invoice_id": text(body, "invoice_id"),
        "customer_reference_id": text(body, "customer_reference_id"),
        "description": text(body, "description"),
        "email": text(body, "email"),
        "tax_cents": tax,
        "shipping_address": address_to_db(body.get("shipping_address")),
        "created_at": state.clock.now(),
        "created_by": state.config.username,
        "from_ip": request.remote or "",
    }


def _card_fields(card: Card) -> dict[str, Any]:
    return {
        "masked_number": card.masked_number,
        "last_four": card.last_four,
        "card_type": card.card_type,
        "expiration_month": card.expiration_month,
        "expiration_year": card.expiration_year,
    }


async def _charge(
    state: EmulatorState,
    kind: str,
    cents: int,
    card: Card,
    csc: str | None,
    fields: dict[str, Any],
) -> web.Response:
    decisions: list[Decision] = []

    def build(transaction_id: int) -> dict[str, Any]:
        decision = decide(transaction_id, cents, card, csc, billing_zip(fields["billing_address"]))
        decisions.append(decision)
        status = decision.status
        if kind == AUTHORIZATION and status == "APPROVED":
            status = "AUTHORIZED"
        return {
            **fields,
            **_card_fields(card),
            "transaction_type": kind,
            "status": status,
            "response_code": decision.response_code,
            "status_message": decision.status_message,
            "amount_cents": cents,
            "authorized_cents": cents,
            "approval_code": decision.approval_code,
            "approval_message": decision.approval_message,
            "avs_response": decision.avs_response,
            "csc_response": decision.csc_response,
        }

    transaction_id = await state.store.add_transaction(build)
    decision = decisions[0]
    return outcome_response(
        _result(
            decision.response_code,
            transaction_id,
            decision=decision,
            masked=card.masked_number,
            message=decision.status_message,
        )
    )


async def _keyed(request: web.Request, kind: str) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        checks = Validation()
        cents = checks.check(lambda: parse_cents(body.get("amount")))
        card = checks.check(lambda: parse_card(body.get("credit_card"), state.clock.today()))
        fields = _common_fields(request, state, body, checks)
        checks.done()
    except RequestError as error:
        return error_response(error)
    assert cents is not None and card is not None
    fields["billing_address"] = address_to_db(body.get("billing_address"))
    csc = text(body, "csc") or None
    if kind != REFUND:
        return await _charge(state, kind, cents, card, csc, fields)
    if card.always_declines:
        return outcome_response(_result(107, None, masked=card.masked_number))
    transaction_id = await state.store.add_transaction(
        lambda _id: {
            **fields,
            **_card_fields(card),
            "transaction_type": REFUND,
            "status": "APPROVED",
            "response_code": 106,
            "status_message": STATUS_MESSAGES[106],
            "amount_cents": cents,
            "authorized_cents": cents,
        }
    )
    return outcome_response(_result(106, transaction_id, masked=card.masked_number))


async def _by_customer(request: web.Request, kind: str) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        checks = Validation()
        cents = checks.check(lambda: parse_cents(body.get("amount")))
        fields = _common_fields(request, state, body, checks)
        customer_id = text(body, "customer_id")
        customer = await state.store.customer(customer_id) if customer_id else None
        if customer is None:
            message = f"Customer ID, {customer_id}, was not found or is incomplete."
            checks.errors.setdefault(ERR_CUSTOMER_NOT_FOUND, message)
        checks.done()
    except RequestError as error:
        return error_response(error)
    assert cents is not None and customer is not None
    card = Card(
        masked_number=customer["masked_number"],
        last_four=customer["last_four"],
        card_type=customer["card_type"],
        expiration_month=customer["expiration_month"],
        expiration_year=customer["expiration_year"],
        always_declines=bool(customer["always_declines"]),
    )
    fields["customer_id"] = customer_id
    fields["billing_address"] = customer["billing_address"]
    if not fields["shipping_address"]:
        fields["shipping_address"] = customer["shipping_address"]
    return await _charge(state, kind, cents, card, text(body, "csc") or None, fields)


async def _original(state: EmulatorState, body: dict[str, Any]) -> Row:
    try:
        transaction_id = int(body.get("transaction_id") or 0)
    except (TypeError, ValueError):
        transaction_id = 0
    row = await state.store.transaction(transaction_id) if transaction_id else None
    if row is None:
        raise RequestError(ERR_TRANSACTION_ID)
    return row


async def _original_and_amount(
    state: EmulatorState, body: dict[str, Any]
) -> tuple[Row, int | None]:
    """The transaction id and the optional amount, both checked before either error is sent."""
    checks = Validation()
    cents = checks.check(lambda: parse_cents(body.get("amount"), required=False))
    try:
        row: Row | None = await _original(state, body)
    except RequestError as error:
        checks.errors = {**error.errors, **checks.errors}
        row = None
    checks.done()
    assert row is not None
    return row, cents


async def capture(request: web.Request) -> web.Response:
    state = state_of(request)
    async with state.mutation_lock:
        try:
            body = await read_json(request)
            row, cents = await _original_and_amount(state, body)
        except RequestError as error:
            return error_response(error)
        transaction_id = row["transaction_id"]
        cents = row["authorized_cents"] if cents is None else cents
        if (
            row["transaction_type"] != AUTHORIZATION
            or row["status"] != "AUTHORIZED"
            or cents > row["authorized_cents"]
        ):
            return outcome_response(_result(113, transaction_id))
        await state.store.update_transaction(
            transaction_id, {"status": "CAPTURED", "amount_cents": cents}
        )
    return outcome_response(_result(112, transaction_id))


def _voidable(row: Row) -> bool:
    if row["settled_at"] is not None:
        return False
    status, kind = row["status"], row["transaction_type"]
    return (kind in {SALE, REFUND} and status == "APPROVED") or (
        kind == AUTHORIZATION and status in {"AUTHORIZED", "CAPTURED"}
    )


async def void(request: web.Request) -> web.Response:
    state = state_of(request)
    async with state.mutation_lock:
        try:
            row = await _original(state, await read_json(request))
        except RequestError as error:
            return error_response(error)
        transaction_id = row["transaction_id"]
        if not _voidable(row):
            return outcome_response(_result(110, transaction_id))
        await state.store.update_transaction(transaction_id, {"status": "VOIDED"})
        original_id = row["original_transaction_id"]
        if row["transaction_type"] == REFUND and original_id is not None:
            original = await state.store.transaction(original_id)
            if original is not None:
                refunded = max(0, original["refunded_cents"] - row["amount_cents"])
                await state.store.update_transaction(original_id, {"refunded_cents": refunded})
    return outcome_response(_result(109, transaction_id))


async def refund_for_transaction(request: web.Request) -> web.Response:
    state = state_of(request)
    async with state.mutation_lock:
        try:
            body = await read_json(request)
            row, cents = await _original_and_amount(state, body)
        except RequestError as error:
            return error_response(error)
        remaining = row["amount_cents"] - row["refunded_cents"]
        cents = remaining if cents is None else cents
        refundable = (row["transaction_type"], row["status"]) in {
            (SALE, "APPROVED"),
            (AUTHORIZATION, "CAPTURED"),
        }
        if refundable and row["settled_at"] is None:
            # PayTrace refunds only settled money; before settlement the answer is to void.
            return error_response(RequestError(ERR_NOT_SETTLED))
        if not refundable or remaining <= 0 or cents > remaining:
            return outcome_response(_result(107, None))
        original = dict(row)
        now = state.clock.now()
        refund_id = await state.store.add_transaction(
            lambda _id: (
                {
                    key: original[key]
                    for key in (
                        "masked_number",
                        "last_four",
                        "card_type",
                        "expiration_month",
                        "expiration_year",
                        "billing_address",
                        "shipping_address",
                        "invoice_id",
                        "customer_reference_id",
                        "customer_id",
                    )
                }
                | {
                    "transaction_type": REFUND,
                    "status": "APPROVED",
                    "response_code": 106,
                    "status_message": STATUS_MESSAGES[106],
                    "amount_cents": cents,
                    "authorized_cents": cents,
                    "original_transaction_id": original["transaction_id"],
                    "created_at": now,
                    "created_by": state.config.username,
                    "from_ip": request.remote or "",
                }
            )
        )
        await state.store.update_transaction(
            original["transaction_id"], {"refunded_cents": original["refunded_cents"] + cents}
        )
    return outcome_response(_result(106, refund_id, masked=original["masked_number"]))


def add_transaction_routes(app: web.Application) -> None:
    async def sale_keyed(request: web.Request) -> web.Response:
        return await _keyed(request, SALE)

    async def authorization_keyed(request: web.Request) -> web.Response:
        return await _keyed(request, AUTHORIZATION)

    async def refund_keyed(request: web.Request) -> web.Response:
        return await _keyed(request, REFUND)

    async def sale_by_customer(request: web.Request) -> web.Response:
        return await _by_customer(request, SALE)

    async def authorization_by_customer(request: web.Request) -> web.Response:
        return await _by_customer(request, AUTHORIZATION)

    prefix = "/v1/transactions/"
    app.router.add_post(prefix + "sale/keyed", sale_keyed)
    app.router.add_post(prefix + "sale/by_customer", sale_by_customer)
    app.router.add_post(prefix + "authorization/keyed", authorization_keyed)
    app.router.add_post(prefix + "authorization/by_customer", authorization_by_customer)
    app.router.add_post(prefix + "authorization/capture", capture)
    app.router.add_post(prefix + "void", void)
    app.router.add_post(prefix + "refund/for_transaction", refund_for_transaction)
    app.router.add_post(prefix + "refund/keyed", refund_keyed)
