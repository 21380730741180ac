"""Record operations of the emulated org: create, update, upsert, delete, collections.

Each public method is one API transaction (one change-event transaction key). Single-record
calls raise ``SalesforceApiError``; collection calls return a result per record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base.emulator import Faults
from connectors.salesforce.emulator.changes import ChangeTransaction, record_change
from connectors.salesforce.emulator.faults import RecordError, SalesforceApiError
from connectors.salesforce.emulator.schema import FieldType, ObjectDef
from connectors.salesforce.emulator.store import SalesforceStore
from connectors.salesforce.emulator.validation import format_datetime, normalize, references
from connectors.salesforce.ids import make_id

INTEGRATION_USER_ID = make_id("005", 1)
LOCK_FAULT_KEY = "unable_to_lock_row"  # /_emulator/faults extra key: next N record writes fail
MAX_COLLECTION = 200


@dataclass
class Outcome:
    """Result of one record's write: an id and whether it was created, or errors."""

    record_id: str | None
    created: bool
    errors: list[RecordError]

    def result(self) -> dict[str, Any]:
        return {
            "id": self.record_id,
            "success": not self.errors,
            "errors": [e.collection() for e in self.errors],
            "created": self.created,
        }


class Org:
    def __init__(
        self,
        schema: dict[str, ObjectDef],
        store: SalesforceStore,
        faults: Faults,
        api_version: str,
        retention_hours: float,
    ) -> None:
        self.schema = schema
        self.store = store
        self.faults = faults
        self.api_version = api_version
        self.retention_hours = retention_hours

    def record_url(self, sobject: str, record_id: str) -> str:
        return f"/services/data/{self.api_version}/sobjects/{sobject}/{record_id}"

    def _txn(self, origin: str) -> ChangeTransaction:
        return ChangeTransaction(origin=origin, commit_user=INTEGRATION_USER_ID)

    def _lock_fault(self, record_id: str) -> RecordError | None:
        pending = int(self.faults.extra.get(LOCK_FAULT_KEY, 0) or 0)
        if pending <= 0:
            return None
        self.faults.extra[LOCK_FAULT_KEY] = pending - 1
        return RecordError(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {record_id}",
        )

    async def _reference_errors(self, obj: ObjectDef, values: dict[str, Any]) -> list[RecordError]:
        errors = []
        for fd, target_id in references(obj, values):
            if fd.targets == ("User",):
                found = target_id == INTEGRATION_USER_ID
            else:
                found = await self.store.sobject_of(target_id) in fd.targets
            if not found:
                errors.append(
                    RecordError(
                        "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fd.name]
                    )
                )
        return errors

    async def _duplicate_errors(
        self, obj: ObjectDef, values: dict[str, Any], own_id: str | None, checked: str = ""
    ) -> list[RecordError]:
        """DUPLICATE_VALUE for unique fields; ``checked`` was just looked up by an upsert."""
        errors = []
        for fd in obj.fields.values():
            if fd.unique and fd.name != checked and values.get(fd.name) is not None:
                for other in await self.store.find_by_field(obj.name, fd.name, values[fd.name]):
                    if other["Id"] != own_id:
                        errors.append(
                            RecordError(
                                "DUPLICATE_VALUE",
                                f"duplicate value found: {fd.name} duplicates value on record "
                                f"with id: {other['Id']}",
                                [fd.name],
                            )
                        )
                        break
        return errors

    async def _create(
        self, obj: ObjectDef, values: dict[str, Any], txn: ChangeTransaction, checked: str = ""
    ) -> Outcome:
        errors = await self._reference_errors(obj, values) + await self._duplicate_errors(
            obj, values, None, checked
        )
        if errors:
            return Outcome(None, False, errors)
        number = await self.store.next_value("record_id")
        record_id = make_id(obj.key_prefix, number)
        if lock := self._lock_fault(record_id):
            return Outcome(None, False, [lock])
        now = format_datetime(datetime.now(UTC))
        record: dict[str, Any] = {name: fd.default for name, fd in obj.fields.items()}
        record.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=INTEGRATION_USER_ID,
            LastModifiedDate=now,
            LastModifiedById=INTEGRATION_USER_ID,
            SystemModstamp=now,
        )
        if "OwnerId" in obj.fields:
            record["OwnerId"] = INTEGRATION_USER_ID
        for name, fd in obj.fields.items():
            if fd.type == FieldType.AUTONUMBER and obj.autonumber_format:
                seq = await self.store.next_value(f"autonumber:{obj.name}")
                record[name] = obj.autonumber_format.format(seq)
        record.update(values)
        await self.store.insert(obj.name, record)
        await record_change(
            self.store,
            txn,
            entity=obj.name,
            change_type="CREATE",
            record_id=record_id,
            values=record,
            retention_hours=self.retention_hours,
        )
        return Outcome(record_id, True, [])

    async def _update(
        self,
        obj: ObjectDef,
        existing: dict[str, Any],
        values: dict[str, Any],
        txn: ChangeTransaction,
    ) -> Outcome:
        record_id = existing["Id"]
        errors = await self._reference_errors(obj, values) + await self._duplicate_errors(
            obj, values, record_id
        )
        if errors:
            return Outcome(record_id, False, errors)
        if lock := self._lock_fault(record_id):
            return Outcome(record_id, False, [lock])
        changed = [k for k, v in values.items() if existing.get(k) != v]
        now = format_datetime(datetime.now(UTC))
        record = {**existing, **values, "LastModifiedDate": now, "SystemModstamp": now}
        await self.store.replace(record)
        if changed:
            await record_change(
                self.store,
                txn,
                entity=obj.name,
                change_type="UPDATE",
                record_id=record_id,
                values={**{k: values[k] for k in changed}, "LastModifiedDate": now},
                changed_fields=[*changed, "LastModifiedDate"],
                retention_hours=self.retention_hours,
            )
        return Outcome(record_id, False, [])

    async def _existing(self, obj: ObjectDef, record_id: str) -> dict[str, Any]:
        record = await self.store.get(record_id, obj.name, include_deleted=True)
        if record is None:
            raise SalesforceApiError.one(404, "NOT_FOUND", "The requested resource does not exist")
        if record.get("IsDeleted"):
            raise SalesforceApiError.one(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    @staticmethod
    def _raise_if_failed(outcome: Outcome) -> None:
        if outcome.errors:
            raise SalesforceApiError(400, outcome.errors)

    async def create(self, obj: ObjectDef, body: dict[str, Any], origin: str) -> str:
        values, errors = normalize(obj, body, creating=True)
        if errors:
            raise SalesforceApiError(400, errors)
        async with self.store.transaction():
            outcome = await self._create(obj, values, self._txn(origin))
        self._raise_if_failed(outcome)
        assert outcome.record_id is not None
        return outcome.record_id

    async def update(
        self, obj: ObjectDef, record_id: str, body: dict[str, Any], origin: str
    ) -> None:
        values, errors = normalize(obj, body, creating=False)
        if errors:
            raise SalesforceApiError(400, errors)
        async with self.store.transaction():
            existing = await self._existing(obj, record_id)
            outcome = await self._update(obj, existing, values, self._txn(origin))
        self._raise_if_failed(outcome)

    async def delete(self, obj: ObjectDef, record_id: str, origin: str) -> None:
        async with self.store.transaction():
            existing = await self._existing(obj, record_id)
            if lock := self._lock_fault(record_id):
                raise SalesforceApiError(400, [lock])
            await self.store.replace({**existing, "IsDeleted": True})
            await record_change(
                self.store,
                self._txn(origin),
                entity=obj.name,
                change_type="DELETE",
                record_id=record_id,
                values={},
                retention_hours=self.retention_hours,
            )

    async def undelete(self, obj: ObjectDef, record_id: str, origin: str) -> None:
        async with self.store.transaction():
            record = await self.store.get(record_id, obj.name, include_deleted=True)
            if record is None or not record.get("IsDeleted"):
                raise SalesforceApiError.one(
                    404, "NOT_FOUND", "The requested resource does not exist"
                )
            restored = {**record, "IsDeleted": False}
            await self.store.replace(restored)
            await record_change(
                self.store,
                self._txn(origin),
                entity=obj.name,
                change_type="UNDELETE",
                record_id=record_id,
                values=restored,
                retention_hours=self.retention_hours,
            )

    def external_id_field(self, obj: ObjectDef, name: str) -> str:
        fd = obj.resolve(name)
        if fd is None or not fd.external_id:
            raise SalesforceApiError.one(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {name}",
            )
        return fd.name

    async def _upsert_one(
        self, obj: ObjectDef, field: str, value: Any, values: dict[str, Any], txn: ChangeTransaction
    ) -> Outcome | list[str]:
        """An outcome, or the URLs of the several records the external id matches."""
        matches = await self.store.find_by_field(obj.name, field, value)
        if len(matches) > 1:
            return [self.record_url(obj.name, m["Id"]) for m in matches]
        if matches:
            return await self._update(obj, matches[0], values, txn)
        missing = [
            fd.name
            for fd in obj.fields.values()
            if fd.required and fd.default is None and values.get(fd.name) is None
        ]
        if missing:
            return Outcome(
                None,
                False,
                [
                    RecordError(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(missing)}]",
                        missing,
                    )
                ],
            )
        return await self._create(obj, values, txn, checked=field)

    async def upsert(
        self, obj: ObjectDef, field_name: str, value: str, body: dict[str, Any], origin: str
    ) -> Outcome | list[str]:
        field = self.external_id_field(obj, field_name)
        values, errors = normalize(obj, body, creating=False)
        if errors:
            raise SalesforceApiError(400, errors)
        values[field] = value
        async with self.store.transaction():
            outcome = await self._upsert_one(obj, field, value, values, self._txn(origin))
        if isinstance(outcome, Outcome):
            self._raise_if_failed(outcome)
        return outcome

    async def upsert_collection(
        self,
        obj: ObjectDef,
        field_name: str,
        records: list[dict[str, Any]],
        all_or_none: bool,
        origin: str,
    ) -> list[Outcome]:
        field = self.external_id_field(obj, field_name)
        if len(records) > MAX_COLLECTION:
            raise SalesforceApiError.one(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        ext_values = [self._ext_value(obj, field, r) for r in records]
        seen: dict[Any, int] = {}
        for value in ext_values:
            if value is not None:
                seen[value] = seen.get(value, 0) + 1
        outcomes: list[Outcome] = []
        txn = self._txn(origin)
        async with self.store.transaction() as db_txn:
            for record, value in zip(records, ext_values, strict=True):
                outcomes.append(await self._collection_item(obj, field, record, value, seen, txn))
            if all_or_none and any(o.errors for o in outcomes):
                db_txn.abort()
                rolled_back = RecordError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                )
                outcomes = [Outcome(None, False, o.errors or [rolled_back]) for o in outcomes]
        return outcomes

    def _ext_value(self, obj: ObjectDef, field: str, record: dict[str, Any]) -> Any:
        for key, value in record.items():
            if key.lower() == field.lower():
                return value
        return None

    async def _collection_item(
        self,
        obj: ObjectDef,
        field: str,
        record: dict[str, Any],
        value: Any,
        seen: dict[Any, int],
        txn: ChangeTransaction,
    ) -> Outcome:
        record_type = (record.get("attributes") or {}).get("type")
        if record_type != obj.name:
            return Outcome(
                None,
                False,
                [
                    RecordError("INVALID_TYPE", "Must specify a type in attributes")
                    if not record_type
                    else RecordError(
                        "INVALID_TYPE", f"sObject type '{record_type}' does not match {obj.name}"
                    )
                ],
            )
        if value is None:
            return Outcome(
                None,
                False,
                [RecordError("MISSING_ARGUMENT", f"{field} not specified", [field])],
            )
        if seen.get(value, 0) > 1:
            return Outcome(
                None,
                False,
                [
                    RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {value}",
                        [field],
                    )
                ],
            )
        values, errors = normalize(obj, record, creating=False)
        if errors:
            return Outcome(None, False, errors)
        outcome = await self._upsert_one(obj, field, values.get(field, value), values, txn)
        if isinstance(outcome, list):
            return Outcome(
                None,
                False,
                [
                    RecordError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"{field}: more than one record found for external id field: {outcome}",
                        [field],
                    )
                ],
            )
        return outcome
