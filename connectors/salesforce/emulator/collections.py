"""sObject Collections by record id (REST API Developer Guide, "sObject Collections").

- ``GET composite/sobjects/{type}?ids=...&fields=...``: one element per id, in order; ``null``
  for an id that is malformed, of another type, deleted or missing; an unknown field is a 400.
- ``PATCH composite/sobjects`` (update) and ``POST composite/sobjects`` (create): a body
  ``{"allOrNone": false, "records": [{"attributes": {"type": ...}, ...}]}`` of at most 200
  records, types may be mixed (each run of one type is a chunk, at most 10 per request); one
  SaveResult ``{"id", "success", "errors"}`` per record, in order (no ``id`` on a failure).
  With ``allOrNone`` one failure rolls every record back.

A well-formed request is a 200 whatever its records' fate; the request itself being wrong (not
JSON, no records array, over 200 records, over 10 chunks) is a 400 error body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connectors.base.emulator import json_response
from connectors.salesforce.emulator.changes import ChangeTransaction
from connectors.salesforce.emulator.faults import RecordError, SalesforceApiError
from connectors.salesforce.emulator.records import MAX_COLLECTION, Org, Outcome
from connectors.salesforce.emulator.routes import BASE, _json, _object, _origin, _shape, _state
from connectors.salesforce.emulator.schema import ObjectDef, resolve_object
from connectors.salesforce.emulator.validation import normalize
from connectors.salesforce.ids import is_valid_id, key_prefix, to_18

MAX_CHUNKS = 10
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)
Write = Callable[[Org, ObjectDef, dict[str, Any], ChangeTransaction], Awaitable[Outcome]]


def save_result(outcome: Outcome) -> dict[str, Any]:
    """A SaveResult as collections answer it: ``id`` only for a record that was saved."""
    result: dict[str, Any] = {"success": not outcome.errors}
    if not outcome.errors:
        result["id"] = outcome.record_id
    result["errors"] = [e.collection() for e in outcome.errors]
    return result


def _failed(code: str, message: str, fields: list[str] | None = None) -> Outcome:
    return Outcome(None, False, [RecordError(code, message, fields or [])])


async def retrieve(request: web.Request) -> web.Response:
    state, obj = _state(request), _object(request)
    ids, fields = request.query.get("ids", ""), request.query.get("fields", "")
    if not ids.strip() or not fields.strip():
        missing = "ids" if not ids.strip() else "fields"
        raise SalesforceApiError.one(
            400, "MISSING_ARGUMENT", f"The {missing} parameter is required"
        )
    found: list[dict[str, Any] | None] = []
    for raw in ids.split(","):
        record_id = raw.strip()
        record = None
        if is_valid_id(record_id):
            record = await state.store.get(to_18(record_id), obj.name)
        # _shape checks the field list even when no record is found: a bad field is a 400.
        shaped = _shape(state, obj, record or {"Id": ""}, fields)
        found.append(shaped if record is not None else None)
    return json_response(found)


def _records(body: Any) -> list[dict[str, Any]]:
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise SalesforceApiError.one(
            400, "JSON_PARSER_ERROR", "records: expected an array of sObjects"
        )
    if len(records) > MAX_COLLECTION:
        raise SalesforceApiError.one(
            400,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
    types = [(r.get("attributes") or {}).get("type") for r in records]
    chunks = sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])
    if chunks > MAX_CHUNKS:
        raise SalesforceApiError.one(
            400,
            "INVALID_BATCH_REQUEST",
            "Cannot have more than 10 chunks in a single operation. Please rearrange the data "
            "to reduce chunking.",
        )
    return records


def _record_type(org: Org, record: dict[str, Any]) -> ObjectDef | Outcome:
    attributes = record.get("attributes")
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(name, str) or not name:
        return _failed("INVALID_TYPE", "Must specify a type in attributes")
    obj = resolve_object(org.schema, name)
    if obj is None:
        return _failed("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


def _id_key(record: dict[str, Any]) -> str | None:
    return next((k for k in record if k.lower() == "id"), None)


async def _update_one(
    org: Org, obj: ObjectDef, record: dict[str, Any], txn: ChangeTransaction
) -> Outcome:
    key = _id_key(record)
    raw = record.get(key) if key else None
    if not raw:
        return _failed("MISSING_ARGUMENT", "Id not specified in an update call")
    if not isinstance(raw, str) or not is_valid_id(raw):
        return _failed("MALFORMED_ID", f"malformed id {raw}")
    if key_prefix(raw) != obj.key_prefix:
        return _failed("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {raw}", ["Id"])
    body = {k: v for k, v in record.items() if k != key}
    values, errors = normalize(obj, body, creating=False)
    if errors:
        return Outcome(None, False, errors)
    existing = await org.store.get(to_18(raw), obj.name, include_deleted=True)
    if existing is None or existing.get("IsDeleted"):
        return _failed("ENTITY_IS_DELETED", "entity is deleted")
    return await org._update(obj, existing, values, txn)


async def _create_one(
    org: Org, obj: ObjectDef, record: dict[str, Any], txn: ChangeTransaction
) -> Outcome:
    if _id_key(record) is not None:
        return _failed(
            "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
        )
    values, errors = normalize(obj, record, creating=True)
    if errors:
        return Outcome(None, False, errors)
    return await org._create(obj, values, txn)


async def _save(request: web.Request, write: Write) -> web.Response:
    state = _state(request)
    body = await _json(request)
    records = _records(body)
    all_or_none = bool(body.get("allOrNone", False))
    org = state.org
    txn = org._txn(_origin(request))  # one transaction: one change-event transaction key
    outcomes: list[Outcome] = []
    async with state.store.transaction() as db_txn:
        for record in records:
            obj = _record_type(org, record)
            outcomes.append(obj if isinstance(obj, Outcome) else await write(org, obj, record, txn))
        if all_or_none and any(o.errors for o in outcomes):
            db_txn.abort()
            outcomes = [Outcome(None, False, o.errors or [ROLLED_BACK]) for o in outcomes]
    return json_response([save_result(o) for o in outcomes])


async def update(request: web.Request) -> web.Response:
    return await _save(request, _update_one)


async def create(request: web.Request) -> web.Response:
    return await _save(request, _create_one)


def add_collection_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(BASE + "/composite/sobjects/{sobject}", retrieve)
    for path in ("/composite/sobjects", "/composite/sobjects/"):  # the guide writes both
        r.add_patch(BASE + path, update)
        r.add_post(BASE + path, create)
