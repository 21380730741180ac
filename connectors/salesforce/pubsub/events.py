"""Decoded change events: Avro payload -> ``ReceivedEvent`` with a readable header.

The Pub/Sub API sends ``changedFields``, ``nulledFields`` and ``diffFields`` as bitmaps over
the schema's field positions (``["0x650004E0", "4-0x10"]``: top-level bits, then
``<position>-<bitmap>`` for the sub-fields of a compound field); they are expanded to names
(``BillingAddress.City`` for a sub-field).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import fastavro
import orjson

from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb


def _bits(hex_text: str) -> list[int]:
    value = int(hex_text, 16)
    return [position for position in range(value.bit_length()) if value >> position & 1]


def _record_fields(avro_type: Any) -> list[dict[str, Any]] | None:
    """The fields of a record, or of the record inside a nullable union."""
    candidates = avro_type if isinstance(avro_type, list) else [avro_type]
    for candidate in candidates:
        if isinstance(candidate, dict) and candidate.get("type") == "record":
            fields: list[dict[str, Any]] = candidate["fields"]
            return fields
    return None


def decode_bitmap(bitmap: list[str], fields: list[dict[str, Any]]) -> list[str]:
    """Field names a bitmap field marks, in schema order."""
    names: list[str] = []
    for item in bitmap:
        if item.startswith("0x"):
            names.extend(fields[p]["name"] for p in _bits(item) if p < len(fields))
            continue
        parent_text, _, child_bits = item.partition("-")
        if not parent_text.isdigit() or not child_bits.startswith("0x"):
            continue
        parent = fields[int(parent_text)] if int(parent_text) < len(fields) else None
        children = _record_fields(parent["type"]) if parent else None
        if parent is None or children is None:
            continue
        names.extend(
            f"{parent['name']}.{children[p]['name']}"
            for p in _bits(child_bits)
            if p < len(children)
        )
    return names


def origin_client(change_origin: str) -> str | None:
    """``client`` from a changeOrigin like ``com/salesforce/api/rest/62.0;client=paystream``."""
    for part in change_origin.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip() == "client":
            return value.strip()
    return None


@dataclass(frozen=True)
class ChangeEventHeader:
    entity_name: str
    record_ids: tuple[str, ...]
    change_type: str  # CREATE, UPDATE, DELETE, UNDELETE, GAP_*, SNAPSHOT
    change_origin: str  # e.g. com/salesforce/api/rest/62.0;client=paystream
    transaction_key: str
    sequence_number: int
    commit_timestamp: int  # epoch ms
    commit_number: int
    commit_user: str
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    diff_fields: tuple[str, ...]

    @property
    def client(self) -> str | None:
        """The ``client=`` of the writer's ``Sforce-Call-Options``, when it sent one."""
        return origin_client(self.change_origin)

    def made_by(self, client: str) -> bool:
        return self.client == client


@dataclass(frozen=True)
class ReceivedEvent:
    topic: str
    replay_id: bytes  # opaque: persist it to resume after this event
    event_id: str  # ProducerEvent.id, stable across redeliveries
    schema_id: str
    header: ChangeEventHeader
    payload: dict[str, Any] = field(repr=False)  # every record field; untouched ones are None

    @property
    def record_ids(self) -> tuple[str, ...]:
        return self.header.record_ids

    @property
    def values(self) -> dict[str, Any]:
        """The fields that carry a value (DateTime as epoch ms, Date as days since epoch)."""
        return {name: value for name, value in self.payload.items() if value is not None}

    @property
    def changed_values(self) -> dict[str, Any]:
        """For an UPDATE: each changed top-level field and its new value (None if nulled)."""
        return {
            name: self.payload.get(name) for name in self.header.changed_fields if "." not in name
        }


class EventDecoder:
    """Avro schemas by schema id (they never change for an id), and the decoding of events."""

    def __init__(self) -> None:
        self._parsed: dict[str, Any] = {}
        self._fields: dict[str, list[dict[str, Any]]] = {}

    def knows(self, schema_id: str) -> bool:
        return schema_id in self._parsed

    def add(self, schema_id: str, schema_json: str) -> None:
        schema = orjson.loads(schema_json)
        self._fields[schema_id] = schema["fields"]
        self._parsed[schema_id] = fastavro.parse_schema(schema)

    def decode(self, topic: str, consumer_event: pb.ConsumerEvent) -> ReceivedEvent:
        event = consumer_event.event
        record = fastavro.schemaless_reader(
            io.BytesIO(event.payload), self._parsed[event.schema_id]
        )
        assert isinstance(record, dict)
        fields = self._fields[event.schema_id]
        raw = record.pop("ChangeEventHeader")
        header = ChangeEventHeader(
            entity_name=raw["entityName"],
            record_ids=tuple(raw["recordIds"]),
            change_type=raw["changeType"],
            change_origin=raw["changeOrigin"],
            transaction_key=raw["transactionKey"],
            sequence_number=raw["sequenceNumber"],
            commit_timestamp=raw["commitTimestamp"],
            commit_number=raw["commitNumber"],
            commit_user=raw["commitUser"],
            changed_fields=tuple(decode_bitmap(raw["changedFields"], fields)),
            nulled_fields=tuple(decode_bitmap(raw["nulledFields"], fields)),
            diff_fields=tuple(decode_bitmap(raw["diffFields"], fields)),
        )
        return ReceivedEvent(
            topic=topic,
            replay_id=consumer_event.replay_id,
            event_id=event.id,
            schema_id=event.schema_id,
            header=header,
            payload=record,
        )


def change_event_topic(entity: str) -> str:
    """``/data/<Entity>ChangeEvent``, the CDC channel of one object."""
    # A custom object's channel drops the "c" of "__c": /data/Subscription__ChangeEvent.
    name = entity[:-1] if entity.endswith("__c") else entity
    return f"/data/{name}ChangeEvent"
