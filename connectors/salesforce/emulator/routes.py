"""REST API routes: sObject rows, upsert by external id, sObject Collections upsert, query
(Collections by id: collections.py)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from connectors.base.emulator import json_response
from connectors.salesforce.emulator.changes import change_origin
from connectors.salesforce.emulator.faults import SalesforceApiError
from connectors.salesforce.emulator.records import Outcome
from connectors.salesforce.emulator.schema import ObjectDef, resolve_object
from connectors.salesforce.emulator.state import STATE, EmulatorState
from connectors.salesforce.ids import is_valid_id, to_18

BASE = "/services/data/{version:v[0-9]+\\.[0-9]}"


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _object(request: web.Request) -> ObjectDef:
    obj = resolve_object(_state(request).schema, request.match_info["sobject"])
    if obj is None:
        raise SalesforceApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
    return obj


def _origin(request: web.Request) -> str:
    """changeOrigin names the client id a caller set in Sforce-Call-Options, if any."""
    client = None
    for option in request.headers.get("Sforce-Call-Options", "").split(","):
        key, _, value = option.strip().partition("=")
        if key == "client" and value:
            client = value
    return change_origin(request.match_info["version"], client)


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SalesforceApiError.one(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character: {exc.msg} at [line:1, column:{exc.pos}]",
        ) from exc


async def _record_body(request: web.Request) -> dict[str, Any]:
    body = await _json(request)
    if not isinstance(body, dict):
        raise SalesforceApiError.one(
            400,
            "JSON_PARSER_ERROR",
            "Cannot deserialize instance of SObject from START_ARRAY value [line:1, column:1]",
        )
    return body


def _record_id(request: web.Request) -> str:
    record_id = request.match_info["record_id"]
    if not is_valid_id(record_id):
        raise SalesforceApiError.one(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {record_id}",
        )
    return to_18(record_id)


def _shape(
    state: EmulatorState, obj: ObjectDef, record: dict[str, Any], fields: str | None
) -> dict[str, Any]:
    names = list(obj.fields)
    if fields:
        wanted = []
        for name in fields.split(","):
            fd = obj.resolve(name.strip())
            if fd is None:
                raise SalesforceApiError.one(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name.strip()}' on sobject of type {obj.name}",
                )
            wanted.append(fd.name)
        names = wanted
    return {
        "attributes": {"type": obj.name, "url": state.org.record_url(obj.name, record["Id"])},
        **{name: record.get(name) for name in names},
    }


async def get_record(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    record = await state.store.get(_record_id(request), obj.name)
    if record is None:
        raise SalesforceApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
    return json_response(_shape(state, obj, record, request.query.get("fields")))


async def create_record(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    record_id = await state.org.create(obj, await _record_body(request), _origin(request))
    return json_response(
        {"id": record_id, "success": True, "errors": []},
        status=201,
        headers={"Location": state.org.record_url(obj.name, record_id)},
    )


async def update_record(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    await state.org.update(obj, _record_id(request), await _record_body(request), _origin(request))
    return web.Response(status=204)


async def delete_record(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    await state.org.delete(obj, _record_id(request), _origin(request))
    return web.Response(status=204)


async def get_by_external_id(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    field = state.org.external_id_field(obj, request.match_info["field"])
    matches = await state.store.find_by_field(obj.name, field, request.match_info["value"])
    if not matches:
        raise SalesforceApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
    if len(matches) > 1:
        return json_response([state.org.record_url(obj.name, m["Id"]) for m in matches], status=300)
    return json_response(_shape(state, obj, matches[0], request.query.get("fields")))


async def upsert_record(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    outcome = await state.org.upsert(
        obj,
        request.match_info["field"],
        request.match_info["value"],
        await _record_body(request),
        _origin(request),
    )
    if not isinstance(outcome, Outcome):
        return json_response(outcome, status=300)
    # Since API 46.0 an update by external id answers 200 with a body, not 204.
    status = 201 if outcome.created else 200
    headers = {"Location": state.org.record_url(obj.name, outcome.record_id or "")}
    return json_response(outcome.result(), status=status, headers=headers)


async def upsert_collection(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    body = await _json(request)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SalesforceApiError.one(
            400, "JSON_PARSER_ERROR", "records: expected an array of sObjects"
        )
    outcomes = await state.org.upsert_collection(
        obj,
        request.match_info["field"],
        records,
        bool(body.get("allOrNone", False)),
        _origin(request),
    )
    return json_response([o.result() for o in outcomes])


async def query(request: web.Request) -> web.Response:
    text = request.query.get("q")
    if not text:
        raise SalesforceApiError.one(400, "MALFORMED_QUERY", "A query string has to be specified")
    return json_response(await _state(request).queries.run(text))


async def query_more(request: web.Request) -> web.Response:
    return json_response(_state(request).queries.more(request.match_info["locator"]))


async def limits(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response(
        {
            "DailyApiRequests": {
                "Max": state.api_limit,
                "Remaining": max(0, state.api_limit - state.api_used),
            }
        }
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/services/oauth2/token", lambda req: req.app[STATE].tokens.handle_token(req))
    r.add_get(BASE + "/limits", limits)
    r.add_get(BASE + "/query", query)
    r.add_get(BASE + "/query/", query)
    r.add_get(BASE + "/query/{locator}", query_more)
    r.add_post(BASE + "/sobjects/{sobject}", create_record)
    r.add_post(BASE + "/sobjects/{sobject}/", create_record)
    r.add_get(BASE + "/sobjects/{sobject}/{record_id}", get_record)
    r.add_patch(BASE + "/sobjects/{sobject}/{record_id}", update_record)
    r.add_delete(BASE + "/sobjects/{sobject}/{record_id}", delete_record)
    r.add_get(BASE + "/sobjects/{sobject}/{field}/{value:.+}", get_by_external_id)
    r.add_patch(BASE + "/sobjects/{sobject}/{field}/{value:.+}", upsert_record)
    r.add_patch(BASE + "/composite/sobjects/{sobject}/{field}", upsert_collection)
