"""``POST /_emulator/gap_event``: a change Salesforce could not send in full.

Salesforce sends a gap event (changeType ``GAP_CREATE``/``GAP_UPDATE``/``GAP_DELETE``/
``GAP_UNDELETE``) when it cannot generate a change event, e.g. a change applied in the database
outside the application servers, or an event over 1 MB; the header names the records, and no
field values travel. ``GAP_OVERFLOW`` names only the entity: a transaction past 100,000
changes (Change Data Capture Developer Guide, "Gap Events", "Overflow Events").

Body: ``{"entity", "change_type", "record_ids": [...], "set": {field: value}}``. ``set`` is
written straight into the records, with no validation and no change event, as such a job
would; then one header-only event is stored for the Pub/Sub API to serve.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from connectors.base.emulator import CONTROL_PREFIX, json_response
from connectors.salesforce.emulator.changes import CDC_ENTITIES
from connectors.salesforce.emulator.records import INTEGRATION_USER_ID
from connectors.salesforce.emulator.state import STATE
from connectors.salesforce.emulator.validation import format_datetime

GAP_TYPES = frozenset({"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW"})
# Where a database-level job's writes come from: no API client in the origin.
GAP_ORIGIN = "com/salesforce/api/soap/62.0"


def gap_header(entity: str, change_type: str, record_ids: list[str]) -> dict[str, Any]:
    return {
        "entityName": entity,
        "recordIds": [] if change_type == "GAP_OVERFLOW" else record_ids,
        "changeType": change_type,
        "changeOrigin": GAP_ORIGIN,
        "transactionKey": str(uuid.uuid4()),
        "sequenceNumber": 1,  # the guide: always 1 for gap events
        "commitTimestamp": int(time.time() * 1000),
        "commitNumber": 0,
        "commitUser": INTEGRATION_USER_ID,
        "nulledFields": [],
        "diffFields": [],
        "changedFields": [],
    }


async def gap_event(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await request.json()
    entity, change_type = str(body.get("entity", "")), str(body.get("change_type", ""))
    record_ids = [str(r) for r in body.get("record_ids") or []]
    if entity not in CDC_ENTITIES or change_type not in GAP_TYPES:
        return json_response({"error": "entity or change_type not allowed"}, status=400)
    updates = body.get("set") or {}
    header = gap_header(entity, change_type, record_ids)
    records = []
    for record_id in record_ids if updates else []:
        record = await state.store.get(record_id, entity)
        if record is None:
            return json_response({"error": f"no {entity} {record_id}"}, status=404)
        records.append(record)
    async with state.store.transaction():
        now = format_datetime(datetime.now(UTC))
        for record in records:
            stamped = {"LastModifiedDate": now, "SystemModstamp": now}
            await state.store.replace({**record, **updates, **stamped})
        replay_id = await state.store.add_change_event(
            entity,
            change_type,
            header["commitTimestamp"],
            header["transactionKey"],
            {"ChangeEventHeader": header},
        )
    return json_response({"replay_id": replay_id, "header": header})


def add_gap_routes(app: web.Application) -> None:
    app.router.add_post(CONTROL_PREFIX + "gap_event", gap_event)
