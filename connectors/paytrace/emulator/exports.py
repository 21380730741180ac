"""``/v1/transactions/export/*`` and ``/v1/batches/export``: what the pipeline polls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from aiohttp import web

from connectors.paytrace.emulator.render import (
    batch_record,
    completed,
    error_response,
    transaction_record,
)
from connectors.paytrace.emulator.rules import ERR_REQUEST, ERR_TRANSACTION_ID, RequestError
from connectors.paytrace.emulator.state import read_json, state_of, text
from connectors.paytrace.models import API_DATE_FORMAT


def _date(body: dict[str, Any], key: str, label: str) -> date:
    try:
        return datetime.strptime(text(body, key), API_DATE_FORMAT).date()
    except ValueError as exc:
        raise RequestError(ERR_REQUEST, f"Please provide a valid {label} (MM/DD/YYYY).") from exc


async def export_by_date_range(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        first = _date(body, "start_date", "Start Date")
        last = _date(body, "end_date", "End Date")
    except RequestError as error:
        return error_response(error)
    start, end = state.clock.day_span(first, last)
    rows = await state.store.transactions_created(start, end, body)
    records = [transaction_record(row, state.clock) for row in rows]
    state.served[request.path] += len(records)
    return completed(transactions=records, external_transaction_id="")


async def export_by_id(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        try:
            transaction_id = int(body.get("transaction_id") or 0)
        except (TypeError, ValueError):
            transaction_id = 0
        row = await state.store.transaction(transaction_id) if transaction_id else None
        if row is None:
            raise RequestError(ERR_TRANSACTION_ID)
    except RequestError as error:
        return error_response(error)
    state.served[request.path] += 1
    return completed(
        transactions=[transaction_record(row, state.clock)], external_transaction_id=""
    )


async def export_batches(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        body = await read_json(request)
        span = None
        if body.get("start_date"):
            first = _date(body, "start_date", "Start Date")
            last = _date(body, "end_date", "End Date") if body.get("end_date") else first
            span = state.clock.day_span(first, last)
        batch_number = int(body["batch_number"]) if body.get("batch_number") else None
    except (RequestError, ValueError) as error:
        if isinstance(error, RequestError):
            return error_response(error)
        return error_response(RequestError(ERR_REQUEST, "Please provide a valid Batch Number."))
    batches = await state.store.batches(span, batch_number)
    members: dict[int, list[dict[str, Any]]] = {row["batch_number"]: [] for row in batches}
    for row in await state.store.batch_transactions(members):
        members[row["batch_number"]].append(transaction_record(row, state.clock))
    state.served[request.path] += sum(len(m) for m in members.values())
    return completed(
        batches=[batch_record(row, state.clock, members[row["batch_number"]]) for row in batches]
    )


def add_export_routes(app: web.Application) -> None:
    app.router.add_post("/v1/transactions/export/by_date_range", export_by_date_range)
    app.router.add_post("/v1/transactions/export/by_id", export_by_id)
    app.router.add_post("/v1/batches/export", export_batches)
