"""Runs parsed SOQL against the store: filter, order, limit, and 2000-record pages.

Field and object names resolve case-insensitively to their canonical names, which is how
results come back from a real org. Pages beyond the first are kept as query locators. A
selected parent field (``Account.Name``, ``Account__r.Name``: child-to-parent, one level) comes
back nested under its relationship, with its own ``attributes``, or null without a parent.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.salesforce import soql
from connectors.salesforce.emulator.faults import SalesforceApiError
from connectors.salesforce.emulator.schema import FieldDef, ObjectDef, resolve_object
from connectors.salesforce.emulator.store import SalesforceStore
from connectors.salesforce.emulator.validation import parse_datetime
from connectors.salesforce.ids import make_id

PAGE_SIZE = 2000
_MAX_LOCATORS = 256


def _malformed(message: str) -> SalesforceApiError:
    return SalesforceApiError.one(400, "MALFORMED_QUERY", message)


def _bind_field(obj: ObjectDef, name: str, text: str) -> str:
    fd = obj.resolve(name)
    if fd is None:
        raise SalesforceApiError.one(
            400,
            "INVALID_FIELD",
            f"\n{text}\n^\nERROR at Row:1:Column:1\nNo such column '{name}' on entity "
            f"'{obj.name}'. If you are attempting to use a custom field, be sure to append the "
            "'__c' after the custom field name. Please reference your WSDL or the describe "
            "call for the appropriate names.",
        )
    return fd.name


def relationship(fd: FieldDef) -> str:
    """A lookup's relationship name: AccountId -> Account, Account__c -> Account__r."""
    if fd.name.endswith("__c"):
        return fd.name.removesuffix("__c") + "__r"
    return fd.name.removesuffix("Id")


def parent_of(
    schema: dict[str, ObjectDef], obj: ObjectDef, name: str
) -> tuple[FieldDef, ObjectDef] | None:
    """The lookup field and parent object a relationship name stands for (one target only)."""
    for fd in obj.fields.values():
        if fd.targets and len(fd.targets) == 1 and relationship(fd).lower() == name.lower():
            parent = schema.get(fd.targets[0])
            return (fd, parent) if parent is not None else None
    return None


def _bind_selected(schema: dict[str, ObjectDef], obj: ObjectDef, name: str, text: str) -> str:
    if "." not in name:
        return _bind_field(obj, name, text)
    rel, _, field_name = name.partition(".")
    found = parent_of(schema, obj, rel) if "." not in field_name else None
    if found is None:
        raise SalesforceApiError.one(
            400,
            "INVALID_FIELD",
            f"\n{text}\n^\nERROR at Row:1:Column:1\nDidn't understand relationship '{rel}' in "
            "field path. If you are attempting to use a custom relationship, be sure to append "
            "the '__r' after the custom relationship name. Please reference your WSDL or the "
            "describe call for the appropriate names.",
        )
    lookup, parent = found
    return f"{relationship(lookup)}.{_bind_field(parent, field_name, text)}"


def _bind_condition(obj: ObjectDef, cond: soql.Condition, text: str) -> soql.Condition:
    if isinstance(cond, soql.Comparison):
        return soql.Comparison(_bind_field(obj, cond.field, text), cond.op, cond.value)
    if isinstance(cond, soql.InList):
        return soql.InList(_bind_field(obj, cond.field, text), cond.values, cond.negated)
    if isinstance(cond, soql.Like):
        return soql.Like(_bind_field(obj, cond.field, text), cond.pattern)
    if isinstance(cond, soql.Not):
        return soql.Not(_bind_condition(obj, cond.term, text))
    return soql.BoolOp(cond.op, tuple(_bind_condition(obj, t, text) for t in cond.terms))


def bind(schema: dict[str, ObjectDef], text: str) -> tuple[ObjectDef, soql.Query]:
    """Parse and resolve names; raises the API's MALFORMED_QUERY / INVALID_TYPE / INVALID_FIELD."""
    try:
        parsed = soql.parse(text)
    except soql.SoqlSyntaxError as exc:
        raise _malformed(str(exc)) from exc
    obj = resolve_object(schema, parsed.sobject)
    if obj is None:
        raise SalesforceApiError.one(
            400,
            "INVALID_TYPE",
            f"\n{text}\n^\nERROR at Row:1:Column:1\nsObject type '{parsed.sobject}' is not "
            "supported. If you are attempting to use a custom object, be sure to append the "
            "'__c' after the entity name.",
        )
    fields = tuple(_bind_selected(schema, obj, f, text) for f in parsed.fields)
    if len({f.lower() for f in fields}) != len(fields):
        raise _malformed(f"duplicate field selected: {fields}")
    where = _bind_condition(obj, parsed.where, text) if parsed.where is not None else None
    order = tuple(
        soql.OrderItem(_bind_field(obj, o.field, text), o.descending, o.nulls_last)
        for o in parsed.order_by
    )
    return obj, soql.Query(
        obj.name, fields, parsed.count, where, order, parsed.limit, parsed.offset
    )


def _comparable(stored: Any, literal: soql.Literal) -> tuple[Any, Any] | None:
    """Both sides as one comparable type, or None when they cannot be compared."""
    if stored is None or literal is None:
        return None
    if isinstance(literal, bool) or isinstance(stored, bool):
        return (stored, literal) if isinstance(stored, bool) and isinstance(literal, bool) else None
    if isinstance(literal, datetime):
        try:
            return parse_datetime(str(stored)), literal
        except ValueError:
            return None
    if isinstance(literal, date):
        try:
            return date.fromisoformat(str(stored)[:10]), literal
        except ValueError:
            return None
    if isinstance(literal, int | Decimal):
        try:
            return Decimal(str(stored)), Decimal(literal)
        except ArithmeticError:
            return None
    return str(stored).casefold(), literal.casefold()


def _equal(stored: Any, literal: soql.Literal) -> bool:
    if literal is None or stored is None:
        return stored is None and literal is None
    pair = _comparable(stored, literal)
    return pair is not None and pair[0] == pair[1]


def matches(record: dict[str, Any], cond: soql.Condition) -> bool:
    if isinstance(cond, soql.BoolOp):
        results = (matches(record, t) for t in cond.terms)
        return all(results) if cond.op == "AND" else any(results)
    if isinstance(cond, soql.Not):
        return not matches(record, cond.term)
    if isinstance(cond, soql.Like):
        value = record.get(cond.field)
        return value is not None and soql.like_regex(cond.pattern).fullmatch(str(value)) is not None
    stored = record.get(cond.field)
    if isinstance(cond, soql.InList):
        found = any(_equal(stored, v) for v in cond.values)
        return found != cond.negated
    if cond.op == "=":
        return _equal(stored, cond.value)
    if cond.op == "!=":
        return not _equal(stored, cond.value)
    pair = _comparable(stored, cond.value)
    if pair is None:
        return False
    left, right = pair
    return bool(
        {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[cond.op]
    )


def _sort(records: list[dict[str, Any]], order: tuple[soql.OrderItem, ...]) -> list[dict[str, Any]]:
    for item in reversed(order):  # stable sorts, least significant key first
        nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
        present = [r for r in records if r.get(item.field) is not None]
        absent = [r for r in records if r.get(item.field) is None]

        def key(record: dict[str, Any], field: str = item.field) -> Any:
            value = record[field]
            if isinstance(value, bool | int | float):
                return (0, Decimal(str(value)), "")
            return (1, Decimal(0), str(value).casefold())

        present.sort(key=key, reverse=item.descending)
        records = present + absent if nulls_last else absent + present
    return records


class QueryEngine:
    def __init__(
        self, schema: dict[str, ObjectDef], store: SalesforceStore, api_version: str
    ) -> None:
        self.schema = schema
        self.store = store
        self.api_version = api_version
        self._locators: OrderedDict[str, tuple[list[dict[str, Any]], int]] = OrderedDict()

    def _page(self, rows: list[dict[str, Any]], start: int, total: int) -> dict[str, Any]:
        page = rows[start : start + PAGE_SIZE]
        body: dict[str, Any] = {"totalSize": total, "done": start + PAGE_SIZE >= len(rows)}
        if not body["done"]:
            # Real locators look like "01gRO0000016PIAYA2-2000": an id, then the next offset.
            locator = make_id("01g", secrets.randbelow(62**9)) + f"-{start + PAGE_SIZE}"
            self._locators[locator] = (rows, start + PAGE_SIZE)
            while len(self._locators) > _MAX_LOCATORS:
                self._locators.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/{self.api_version}/query/{locator}"
        body["records"] = page
        return body

    async def run(self, text: str) -> dict[str, Any]:
        obj, query = bind(self.schema, text)
        rows = [
            r
            for r in await self.store.all(obj.name)
            if query.where is None or matches(r, query.where)
        ]
        rows = _sort(rows, query.order_by)
        if query.offset:
            rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        if query.count:
            return {"totalSize": len(rows), "done": True, "records": []}
        shaped = [await self._shape(obj, r, query.fields) for r in rows]
        return self._page(shaped, 0, len(shaped))

    def _attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        url = f"/services/data/{self.api_version}/sobjects/{sobject}/{record_id}"
        return {"type": sobject, "url": url}

    async def _shape(
        self, obj: ObjectDef, record: dict[str, Any], fields: tuple[str, ...]
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {"attributes": self._attributes(obj.name, record["Id"])}
        for name in fields:
            rel, _, field_name = name.partition(".")
            if not field_name:
                shaped[name] = record.get(name)
                continue
            if rel not in shaped:
                found = parent_of(self.schema, obj, rel)
                assert found is not None  # bound already
                lookup, parent_obj = found
                parent_id = record.get(lookup.name)
                parent = await self.store.get(parent_id, parent_obj.name) if parent_id else None
                shaped[rel] = (
                    {"attributes": self._attributes(parent_obj.name, parent["Id"]), "_row": parent}
                    if parent
                    else None
                )
            if shaped[rel] is not None:
                shaped[rel][field_name] = shaped[rel]["_row"].get(field_name)
        for rel_value in shaped.values():
            if isinstance(rel_value, dict):
                rel_value.pop("_row", None)
        return shaped

    def more(self, locator: str) -> dict[str, Any]:
        entry = self._locators.pop(locator, None)
        if entry is None:
            raise SalesforceApiError.one(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        rows, start = entry
        return self._page(rows, start, len(rows))

    def clear(self) -> None:
        self._locators.clear()
