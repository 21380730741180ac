"""Discovery resources, shaped as the REST API Developer Guide shows them: Versions
(``/services/data/``, no authentication), Describe Global (``/vXX.X/sobjects``) and sObject
Describe (``/vXX.X/sobjects/{Object}/describe``). They are built from the emulator's schema,
so what describe says is exactly what validation enforces.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connectors.base.emulator import json_response
from connectors.salesforce.emulator.faults import RecordError, SalesforceApiError
from connectors.salesforce.emulator.schema import FieldDef, FieldType, ObjectDef, resolve_object
from connectors.salesforce.emulator.state import STATE, EmulatorState

OLDEST_VERSION = 31  # Summer '14: the oldest the guide's Versions example lists
SEASONS = ("Winter", "Spring", "Summer")  # 20.0 was Winter '11; three releases a year
MAX_BATCH_SIZE = 200  # Describe Global's maxBatchSize (sObject Collections' limit)
SOAP_TYPES = {
    FieldType.ID: "tns:ID",
    FieldType.REFERENCE: "tns:ID",
    FieldType.CURRENCY: "xsd:double",
    FieldType.DOUBLE: "xsd:double",
    FieldType.DATE: "xsd:date",
    FieldType.DATETIME: "xsd:dateTime",
    FieldType.BOOLEAN: "xsd:boolean",
}
# What the API cannot create or update although the schema calls it writable.
NOT_UPDATEABLE = frozenset({"Id"})


def release_label(version: int) -> str:
    index = version - 20
    return f"{SEASONS[index % 3]} '{11 + index // 3:02d}"


def _version_number(api_version: str) -> int:
    return int(float(api_version.removeprefix("v")))


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ")


def _plural(label: str) -> str:
    if label.endswith("y") and not label.endswith(("ay", "ey", "oy")):
        return label[:-1] + "ies"
    return label + ("es" if label.endswith(("s", "x", "ch")) else "s")


def _object_urls(version: str, name: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _object_summary(version: str, obj: ObjectDef) -> dict[str, Any]:
    label = _label(obj.name)
    return {
        "name": obj.name,
        "label": label,
        "labelPlural": _plural(label),
        "keyPrefix": obj.key_prefix,
        "custom": obj.name.endswith("__c"),
        "customSetting": False,
        "activateable": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "undeletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "layoutable": True,
        "mergeable": obj.name in {"Account", "Contact"},
        "replicateable": True,
        "feedEnabled": False,
        "mruEnabled": True,
        "deprecatedAndHidden": False,
        "urls": _object_urls(version, obj.name),
    }


def _relationship_name(fd: FieldDef) -> str | None:
    if fd.type is not FieldType.REFERENCE:
        return None
    if fd.name.endswith("__c"):
        return fd.name[:-3] + "__r"
    return fd.name[:-2] if fd.name.endswith("Id") else fd.name


def describe_field(fd: FieldDef) -> dict[str, Any]:
    writable = fd.writable and fd.type not in {FieldType.ID, FieldType.AUTONUMBER}
    numeric = fd.type in {FieldType.CURRENCY, FieldType.DOUBLE}
    text_like = not numeric and fd.type not in {
        FieldType.BOOLEAN,
        FieldType.DATE,
        FieldType.DATETIME,
    }
    return {
        "name": fd.name,
        "label": fd.display,
        "type": fd.type.value,
        "soapType": SOAP_TYPES.get(fd.type, "xsd:string"),
        "length": fd.length if text_like else 0,
        "byteLength": fd.length * 3 if text_like else 0,
        "precision": 18 if numeric else 0,
        "scale": 2 if fd.type is FieldType.CURRENCY else 0,
        "digits": 0,
        "custom": fd.name.endswith("__c"),
        "externalId": fd.external_id,
        "unique": fd.unique,
        "idLookup": fd.type is FieldType.ID or fd.external_id,
        # Booleans are never null in Salesforce; required fields are not nillable.
        "nillable": not fd.required and fd.type not in {FieldType.ID, FieldType.BOOLEAN},
        "createable": writable,
        "updateable": writable and fd.name not in NOT_UPDATEABLE,
        "defaultedOnCreate": fd.default is not None or not fd.writable,
        "defaultValue": fd.default,
        "calculated": False,
        "autoNumber": fd.type is FieldType.AUTONUMBER,
        "filterable": fd.type is not FieldType.TEXTAREA,
        "sortable": fd.type is not FieldType.TEXTAREA,
        "picklistValues": [
            {
                "active": True,
                "defaultValue": value == fd.default,
                "label": value,
                "validFor": None,
                "value": value,
            }
            for value in fd.picklist
        ],
        "restrictedPicklist": fd.restricted,
        "referenceTo": list(fd.targets),
        "relationshipName": _relationship_name(fd),
    }


def describe_object(version: str, obj: ObjectDef) -> dict[str, Any]:
    return {
        **_object_summary(version, obj),
        "fields": [describe_field(fd) for fd in obj.fields.values()],
        "childRelationships": [],
        "recordTypeInfos": [],
    }


async def versions(request: web.Request) -> web.Response:
    newest = _version_number(_state(request).org.api_version)
    return json_response(
        [
            {"label": release_label(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            for v in range(OLDEST_VERSION, newest + 1)
        ]
    )


async def describe_global(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    schema = _state(request).schema
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": MAX_BATCH_SIZE,
            "sobjects": [_object_summary(version, schema[name]) for name in sorted(schema)],
        }
    )


async def describe(request: web.Request) -> web.Response:
    obj = resolve_object(_state(request).schema, request.match_info["sobject"])
    if obj is None:
        error = RecordError("NOT_FOUND", "The requested resource does not exist")
        raise SalesforceApiError(404, [error], with_fields=False)
    return json_response(describe_object(request.match_info["version"], obj))


def add_describe_routes(app: web.Application, base: str) -> None:
    """Registered before the record routes, which would read ``describe`` as a record id."""
    app.router.add_get("/services/data", versions)
    app.router.add_get("/services/data/", versions)
    app.router.add_get(base + "/sobjects", describe_global)
    app.router.add_get(base + "/sobjects/", describe_global)
    app.router.add_get(base + "/sobjects/{sobject}/describe", describe)
    app.router.add_get(base + "/sobjects/{sobject}/describe/", describe)
