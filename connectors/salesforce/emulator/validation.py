"""Checks an incoming record body the way a real org does, and normalises its values.

Returns the errors a real org would report (codes and messages as the REST API words them);
lookups, uniqueness and row locks need the store and are checked by ``records``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from connectors.salesforce.emulator.faults import RecordError
from connectors.salesforce.emulator.schema import NUMERIC, TEXT, FieldDef, FieldType, ObjectDef
from connectors.salesforce.ids import is_valid_id, to_18

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_LONG_DIGITS = re.compile(r"\d{12,}")


def format_datetime(value: datetime) -> str:
    """The API's datetime form: ``2024-05-01T12:00:00.250+0000``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Salesforce accepts ISO 8601 with Z, +hh:mm or +hhmm offsets."""
    cleaned = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    value = datetime.fromisoformat(cleaned)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _masked(value: object) -> str:
    # Error messages echo values and may end up in dead-letter topics: never echo a PAN.
    return _LONG_DIGITS.sub(lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], str(value))


def _parser_error(kind: str, value: object) -> RecordError:
    token = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return RecordError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {_masked(value)} "
        "or request may be missing a required field",
    )


def _coerce(fd: FieldDef, value: Any) -> tuple[Any, RecordError | None]:
    if value is None:
        return None, None
    kind = fd.type
    if kind in TEXT or kind == FieldType.PICKLIST:
        if isinstance(value, dict | list):
            return None, _parser_error("string", value)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > fd.length:
            return None, RecordError(
                "STRING_TOO_LONG",
                f"{fd.display}: data value too large: {_masked(text)} (max length={fd.length})",
                [fd.name],
            )
        if kind == FieldType.EMAIL and not _EMAIL.match(text):
            return None, RecordError(
                "INVALID_EMAIL_ADDRESS", f"{fd.display}: invalid email address: {text}", [fd.name]
            )
        if kind == FieldType.PICKLIST and fd.restricted and text not in fd.picklist:
            return None, RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{fd.display}: bad value for restricted picklist field: {text}",
                [fd.name],
            )
        return text, None
    if kind in NUMERIC:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None, _parser_error(kind.value, value)
        try:
            return float(value), None
        except ValueError:
            return None, _parser_error(kind.value, value)
    if kind == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
        return None, _parser_error("boolean", value)
    if kind == FieldType.DATE:
        try:
            return date.fromisoformat(str(value)[:10]).isoformat(), None
        except ValueError:
            return None, _parser_error("date", value)
    if kind == FieldType.DATETIME:
        try:
            return format_datetime(parse_datetime(str(value))), None
        except ValueError:
            return None, _parser_error("datetime", value)
    if kind == FieldType.REFERENCE:
        if not is_valid_id(value):
            return None, RecordError(
                "MALFORMED_ID", f"{fd.display}: id value of incorrect type: {value}", [fd.name]
            )
        return to_18(str(value)), None
    return value, None


def normalize(
    obj: ObjectDef,
    body: dict[str, Any],
    *,
    creating: bool,
    allowed_readonly: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[RecordError]]:
    """Canonical field names and values, or the errors that stop the write."""
    unknown = [k for k in body if k != "attributes" and obj.resolve(k) is None]
    if unknown:
        return {}, [
            RecordError("INVALID_FIELD", f"No such column '{k}' on sobject of type {obj.name}")
            for k in unknown
        ]
    values: dict[str, Any] = {}
    errors: list[RecordError] = []
    readonly: list[str] = []
    for key, raw in body.items():
        if key == "attributes":
            continue
        fd = obj.resolve(key)
        assert fd is not None
        if not fd.writable and fd.name not in allowed_readonly:
            readonly.append(fd.name)
            continue
        value, error = _coerce(fd, raw)
        if error is not None:
            errors.append(error)
        else:
            values[fd.name] = value
    if readonly:
        errors.insert(
            0,
            RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            ),
        )
    given = {c: v for c, v in ((_canon(obj, k), v) for k, v in body.items()) if c}
    missing = [
        fd.name
        for fd in obj.fields.values()
        if fd.required
        and fd.default is None
        and (
            given.get(fd.name) is None if creating else fd.name in given and given[fd.name] is None
        )
    ]
    if missing:
        errors.append(
            RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        )
    return values, errors


def _canon(obj: ObjectDef, key: str) -> str | None:
    fd = obj.resolve(key) if key != "attributes" else None
    return fd.name if fd else None


def references(obj: ObjectDef, values: dict[str, Any]) -> list[tuple[FieldDef, str]]:
    """The lookup values a write sets, to be checked against the store."""
    return [
        (fd, values[fd.name])
        for fd in obj.fields.values()
        if fd.type == FieldType.REFERENCE and values.get(fd.name) is not None
    ]
