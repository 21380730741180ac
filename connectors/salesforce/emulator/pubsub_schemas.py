"""Avro schemas and payloads of the change events the Pub/Sub API serves.

Shaped like the real CDC schemas: record ``<Entity>ChangeEvent`` in ``com.sforce.eventbus``,
``ChangeEventHeader`` as a nested record first, then every record field as a nullable union
(defaults null). On the wire, as with the real service, ``changedFields``, ``nulledFields`` and
``diffFields`` are bitmaps of top-level field positions (``["0x..."]``), DateTime fields are epoch
milliseconds and Date fields are days since the epoch; fields a change did not touch are null.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import fastavro
import orjson
from fastavro.schema import fingerprint, to_parsing_canonical_form

from connectors.salesforce.emulator.changes import CDC_ENTITIES
from connectors.salesforce.emulator.schema import NUMERIC, FieldType, ObjectDef
from connectors.salesforce.emulator.validation import parse_datetime

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
]
# Change events never carry these: the id travels in recordIds, the rest is bookkeeping.
_NOT_IN_EVENTS = frozenset({"Id", "IsDeleted", "SystemModstamp"})
_BITMAP_FIELDS = ("nulledFields", "diffFields", "changedFields")
_EPOCH = date(1970, 1, 1)

_STRINGS: dict[str, Any] = {"type": "array", "items": "string"}
HEADER_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": NAMESPACE,
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": _STRINGS},
        {
            "name": "changeType",
            "type": {
                "type": "enum",
                "name": "ChangeType",
                "namespace": NAMESPACE,
                "symbols": CHANGE_TYPES,
            },
        },
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": _STRINGS},
        {"name": "diffFields", "type": _STRINGS},
        {"name": "changedFields", "type": _STRINGS},
    ],
}


def topic_name(entity: str) -> str:
    # A custom object's channel drops the "c" of "__c": /data/Subscription__ChangeEvent.
    name = entity[:-1] if entity.endswith("__c") else entity
    return f"/data/{name}ChangeEvent"


def _avro_type(kind: FieldType) -> tuple[str, str]:
    """(Avro type, the ``doc`` tag the real schemas put on the field)."""
    if kind in NUMERIC:
        return "double", "Data:Double"
    if kind == FieldType.BOOLEAN:
        return "boolean", "Data:Boolean"
    if kind == FieldType.DATETIME:
        return "long", "Data:DateTime"
    if kind == FieldType.DATE:
        return "int", "Data:DateOnly"
    if kind == FieldType.REFERENCE:
        return "string", "Data:EntityId"
    return "string", "Data:Text"


def schema_id_of(schema: dict[str, Any]) -> str:
    """A fingerprint of the schema, 22 URL-safe characters like the real ids."""
    digest = fingerprint(to_parsing_canonical_form(fastavro.parse_schema(schema)), "md5")
    return base64.urlsafe_b64encode(bytes.fromhex(digest)).rstrip(b"=").decode()


@dataclass(frozen=True)
class EventSchema:
    entity: str
    schema_id: str
    schema: dict[str, Any]  # as served by GetSchema
    field_types: dict[str, FieldType]
    positions: dict[str, int]  # top-level position of each field (the header is 0)
    parsed: Any

    @property
    def schema_json(self) -> str:
        return orjson.dumps(self.schema).decode()

    def bitmap(self, names: list[str]) -> list[str]:
        """``["0x..."]``: bit n set when the field at position n is named; [] for none."""
        bits = 0
        for name in names:
            position = self.positions.get(name)
            if position is not None:
                bits |= 1 << position
        if not bits:
            return []
        hex_digits = f"{bits:X}"
        return ["0x" + hex_digits.zfill(len(hex_digits) + len(hex_digits) % 2)]

    def _value(self, name: str, value: Any) -> Any:
        kind = self.field_types[name]
        if value is None:
            return None
        if kind == FieldType.DATETIME:
            return int(parse_datetime(str(value)).timestamp() * 1000)
        if kind == FieldType.DATE:
            return (date.fromisoformat(str(value)[:10]) - _EPOCH).days
        if kind in NUMERIC:
            return float(value)
        if kind == FieldType.BOOLEAN:
            return bool(value)
        return str(value)

    def encode(self, stored: dict[str, Any]) -> bytes:
        """Avro binary of one stored change event (``{"ChangeEventHeader": ..., fields}``)."""
        header = dict(stored["ChangeEventHeader"])
        for key in _BITMAP_FIELDS:
            header[key] = self.bitmap(list(header.get(key) or []))
        record: dict[str, Any] = {"ChangeEventHeader": header}
        for name in self.field_types:
            record[name] = self._value(name, stored.get(name))
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self.parsed, record)
        return buffer.getvalue()


def build_event_schema(obj: ObjectDef) -> EventSchema:
    fields: list[dict[str, Any]] = [
        {"name": "ChangeEventHeader", "type": HEADER_SCHEMA, "doc": "Data:ChangeEventHeader"}
    ]
    types: dict[str, FieldType] = {}
    for fd in obj.fields.values():
        if fd.name in _NOT_IN_EVENTS:
            continue
        avro_type, doc = _avro_type(fd.type)
        fields.append({"name": fd.name, "type": ["null", avro_type], "doc": doc, "default": None})
        types[fd.name] = fd.type
    schema: dict[str, Any] = {
        "type": "record",
        "name": topic_name(obj.name).rsplit("/", 1)[-1],
        "namespace": NAMESPACE,
        "fields": fields,
    }
    schema_id = schema_id_of(schema)
    served = {**schema, "uuid": schema_id}
    positions = {f["name"]: index for index, f in enumerate(fields)}
    return EventSchema(obj.name, schema_id, served, types, positions, fastavro.parse_schema(schema))


class EventSchemas:
    """One schema per tracked entity, looked up by topic or by schema id."""

    def __init__(self, objects: dict[str, ObjectDef]) -> None:
        built = [build_event_schema(objects[name]) for name in sorted(CDC_ENTITIES)]
        self.by_topic = {topic_name(s.entity): s for s in built}
        self.by_entity = {s.entity: s for s in built}
        self.by_id = {s.schema_id: s for s in built}
