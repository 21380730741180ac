"""Emulator-only controls under ``/_emulator/``: never counted as API usage, never faulted.

- ``POST /_emulator/expire_tokens``      every issued token -> INVALID_SESSION_ID
- ``POST /_emulator/reset``              drop records, change events, tokens, usage, faults
- ``GET|POST /_emulator/usage``          read or set ``{"used", "limit"}`` of the daily API
  requests every REST call but Versions counts (``{"used": 0}``: a new day)
- ``GET /_emulator/records/{sobject}``   all records (``?include_deleted=true``)
- ``GET /_emulator/change_events``       ``?after=<replay id>&entity=&limit=``
- ``POST /_emulator/lock_rows``          ``{"count": N}``: next N record writes UNABLE_TO_LOCK_ROW
  (same as the ``unable_to_lock_row`` extra key of ``POST /_emulator/faults``)
- ``POST /_emulator/undelete/{sobject}/{id}``  restore from the recycle bin (UNDELETE event)
- ``POST /_emulator/gap_event``          a GAP_* / GAP_OVERFLOW change event (gaps.py)
"""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, json_response
from connectors.salesforce.emulator.changes import change_origin
from connectors.salesforce.emulator.faults import SalesforceApiError
from connectors.salesforce.emulator.records import LOCK_FAULT_KEY
from connectors.salesforce.emulator.schema import resolve_object
from connectors.salesforce.emulator.state import STATE


async def expire_tokens(request: web.Request) -> web.Response:
    return json_response({"expired": request.app[STATE].tokens.expire_all()})


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    await state.store.clear()
    state.tokens.expire_all()
    state.queries.clear()
    state.faults.reset()
    state.api_used = 0
    state.api_limit = state.config.api_limit
    return json_response({"ok": True})


async def get_usage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return json_response({"used": state.api_used, "limit": state.api_limit})


async def set_usage(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    if "used" in body:
        state.api_used = max(0, int(body["used"]))
    if "limit" in body:
        state.api_limit = max(0, int(body["limit"]))
    return json_response({"used": state.api_used, "limit": state.api_limit})


async def records(request: web.Request) -> web.Response:
    state = request.app[STATE]
    obj = resolve_object(state.schema, request.match_info["sobject"])
    if obj is None:
        return json_response({"error": "unknown object"}, status=404)
    include_deleted = request.query.get("include_deleted", "").lower() == "true"
    rows = await state.store.all(obj.name, include_deleted=include_deleted)
    return json_response({"totalSize": len(rows), "records": rows})


async def change_events(request: web.Request) -> web.Response:
    state = request.app[STATE]
    events = await state.store.change_events(
        int(request.query.get("after", 0)),
        request.query.get("entity") or None,
        int(request.query.get("limit", 1000)),
    )
    return json_response({"events": events})


async def lock_rows(request: web.Request) -> web.Response:
    state = request.app[STATE]
    count = int((await request.json()).get("count", 1))
    state.faults.extra[LOCK_FAULT_KEY] = count
    return json_response({LOCK_FAULT_KEY: count})


async def undelete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    obj = resolve_object(state.schema, request.match_info["sobject"])
    if obj is None:
        return json_response({"error": "unknown object"}, status=404)
    try:
        await state.org.undelete(obj, request.match_info["record_id"], change_origin("v62.0", None))
    except SalesforceApiError as exc:
        return exc.response()
    return json_response({"ok": True})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(CONTROL_PREFIX + "expire_tokens", expire_tokens)
    r.add_post(CONTROL_PREFIX + "reset", reset)
    r.add_get(CONTROL_PREFIX + "usage", get_usage)
    r.add_post(CONTROL_PREFIX + "usage", set_usage)
    r.add_put(CONTROL_PREFIX + "usage", set_usage)
    r.add_get(CONTROL_PREFIX + "records/{sobject}", records)
    r.add_get(CONTROL_PREFIX + "change_events", change_events)
    r.add_post(CONTROL_PREFIX + "lock_rows", lock_rows)
    r.add_post(CONTROL_PREFIX + "undelete/{sobject}/{record_id}", undelete)
