"""Pub/Sub payload codec: bitmaps, Avro round trips, replay ids, against documented payloads."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.salesforce.emulator.pubsub_schemas import (
    HEADER_SCHEMA,
    EventSchemas,
    build_event_schema,
)
from connectors.salesforce.emulator.pubsub_server import (
    PubSubAbort,
    decode_replay_id,
    encode_replay_id,
)
from connectors.salesforce.emulator.schema import FieldDef, ObjectDef, build_schema
from connectors.salesforce.pubsub.events import EventDecoder, decode_bitmap
from connectors.salesforce.pubsub.generated import pubsub_api_pb2 as pb

FIXTURES = Path(__file__).parents[1] / "fixtures"
ENRICHED = json.loads((FIXTURES / "pubsub" / "enriched_account_update.json").read_text())
CDC_HEADER = json.loads((FIXTURES / "salesforce" / "change_event_header.json").read_text())
ADDRESS = {
    "type": "record",
    "name": "Address",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": n, "type": ["null", "double" if n in ("Latitude", "Longitude") else "string"]}
        for n in ENRICHED["payload"]["BillingAddress"]
    ],
}


def documented_account_schema() -> dict[str, Any]:
    """An Avro schema with the documented event's fields, in its order (compound addresses)."""
    fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": HEADER_SCHEMA}]
    for name in ENRICHED["field_order"][1:]:
        value = ENRICHED["payload"][name]
        if name.endswith("Address"):
            kind: Any = ["null", ADDRESS if name == "BillingAddress" else "Address"]
        elif name.endswith("Date"):
            kind = ["null", "long"]
        else:
            kind = ["null", "string"] if value is None or isinstance(value, str) else "long"
        fields.append({"name": name, "type": kind, "default": None})
    return {
        "type": "record",
        "name": "AccountChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    }


def test_documented_bitmap_decodes_to_the_documented_fields() -> None:
    fields = documented_account_schema()["fields"]
    decoded = decode_bitmap(ENRICHED["payload"]["ChangeEventHeader"]["changedFields"], fields)
    assert decoded == ENRICHED["decoded_changed_fields"]


def test_emulator_encodes_the_documented_bitmap() -> None:
    obj = ObjectDef("Account", "001")
    obj.add(*(FieldDef(name) for name in ENRICHED["field_order"][1:]))
    schema = build_event_schema(obj)
    assert schema.bitmap(["LastModifiedDate", "Fax"]) == ["0x400080"]
    assert schema.bitmap([]) == []


def test_compound_field_bitmap_names_the_sub_field() -> None:
    fields = documented_account_schema()["fields"]
    # "4-0x04": position 4 is BillingAddress, bit 2 of its record is State.
    assert decode_bitmap(["0x400000", "4-0x04"], fields) == [
        "LastModifiedDate",
        "BillingAddress.State",
    ]


def test_documented_wire_payload_decodes_through_the_client_decoder() -> None:
    schema = documented_account_schema()
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), ENRICHED["payload"])
    decoder = EventDecoder()
    decoder.add("docSchemaId000000000000", orjson.dumps(schema).decode())
    event = decoder.decode(
        "/data/AccountChangeEvent",
        pb.ConsumerEvent(
            event=pb.ProducerEvent(
                id="e1", schema_id="docSchemaId000000000000", payload=buffer.getvalue()
            ),
            replay_id=b"\x00" * 10,
        ),
    )
    header = event.header
    assert header.entity_name == "Account"
    assert header.record_ids == ("001ZM000001QkdOYAS",)
    assert header.change_type == "UPDATE"
    assert header.changed_fields == ("Fax", "LastModifiedDate")
    assert header.client == "SfdcInternalAPI/"
    assert event.changed_values == {"Fax": "4155551212", "LastModifiedDate": 1714172795000}
    assert event.values["Industry"] == "Biotechnology"


def test_emulator_header_has_the_documented_fields_in_order() -> None:
    names = [f["name"] for f in HEADER_SCHEMA["fields"]]
    assert names == list(ENRICHED["payload"]["ChangeEventHeader"])
    assert names == list(CDC_HEADER)


def test_emulator_schemas_look_like_real_cdc_schemas() -> None:
    schemas = EventSchemas(build_schema())
    assert set(schemas.by_topic) == {
        "/data/AccountChangeEvent",
        "/data/OpportunityChangeEvent",
        "/data/OrderChangeEvent",
        "/data/Subscription__ChangeEvent",  # a custom object's channel drops the "c"
    }
    opp = schemas.by_topic["/data/OpportunityChangeEvent"]
    served = orjson.loads(opp.schema_json)
    assert served["name"] == "OpportunityChangeEvent"
    assert served["namespace"] == "com.sforce.eventbus"
    assert served["uuid"] == opp.schema_id and len(opp.schema_id) == 22
    first, *rest = served["fields"]
    assert first["name"] == "ChangeEventHeader" and first["type"]["type"] == "record"
    assert all(f["type"][0] == "null" and f["default"] is None for f in rest)
    names = {f["name"] for f in rest}
    assert {"StageName", "Amount", "CloseDate", "LastModifiedDate"} <= names
    assert not names & {"Id", "IsDeleted", "SystemModstamp"}


OPPORTUNITY = EventSchemas(build_schema()).by_entity["Opportunity"]
OPP_FIELDS = orjson.loads(OPPORTUNITY.schema_json)["fields"]
NAMES = [f["name"] for f in OPP_FIELDS[1:]]


@given(st.lists(st.sampled_from(NAMES), unique=True))
def test_bitmap_round_trip(changed: list[str]) -> None:
    decoded = decode_bitmap(OPPORTUNITY.bitmap(changed), OPP_FIELDS)
    assert decoded == [n for n in NAMES if n in changed]


@given(
    stage=st.sampled_from(["Prospecting", "Closed Won"]),
    amount=st.one_of(st.none(), st.decimals(0, 10**9, places=2).map(float)),
    nulled=st.booleans(),
)
def test_stored_event_round_trips_through_avro(
    stage: str, amount: float | None, nulled: bool
) -> None:
    header = {
        **CDC_HEADER,
        "entityName": "Opportunity",
        "recordIds": ["0065g0000000002AAA"],
        "changedFields": ["StageName", "Amount", "LastModifiedDate"],
        "nulledFields": ["Amount"] if nulled else [],
    }
    stored = {
        "ChangeEventHeader": header,
        "StageName": stage,
        "Amount": None if nulled else amount,
        "CloseDate": "2024-05-01",
        "LastModifiedDate": "2024-05-01T12:00:00.250+0000",
    }
    decoder = EventDecoder()
    decoder.add(OPPORTUNITY.schema_id, OPPORTUNITY.schema_json)
    event = decoder.decode(
        "/data/OpportunityChangeEvent",
        pb.ConsumerEvent(
            event=pb.ProducerEvent(
                id="x", schema_id=OPPORTUNITY.schema_id, payload=OPPORTUNITY.encode(stored)
            ),
            replay_id=encode_replay_id(7),
        ),
    )
    # schema order, whatever order the writer listed them in
    assert event.header.changed_fields == tuple(n for n in NAMES if n in header["changedFields"])
    assert event.header.nulled_fields == (("Amount",) if nulled else ())
    assert event.payload["StageName"] == stage
    assert event.payload["Amount"] == (None if nulled else amount)
    assert event.payload["CloseDate"] == 19844  # days since the epoch
    assert event.payload["LastModifiedDate"] == 1714564800250  # epoch ms
    assert event.payload["Name"] is None  # untouched fields travel as null


@given(st.integers(min_value=0, max_value=2**63))
def test_replay_ids_are_ten_opaque_bytes(value: int) -> None:
    raw = encode_replay_id(value)
    assert len(raw) == 10
    assert decode_replay_id(raw) == value


@pytest.mark.parametrize("raw", [b"", b"\x01", b"12345678", b"x" * 11])
def test_malformed_replay_id_is_refused_like_the_real_bus(raw: bytes) -> None:
    with pytest.raises(PubSubAbort) as caught:
        decode_replay_id(raw)
    assert caught.value.error_code.endswith("replayid.corrupted")
    assert caught.value.message.startswith("The Replay ID validation failed.")
