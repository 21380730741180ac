"""SQLite state of the emulated org: records (JSON per row), sequences and change events.

Writes go through ``transaction()`` so a collection with allOrNone, and the change events it
records, commit or roll back together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from connectors.base.emulator import Store
from connectors.salesforce.emulator.schema import ObjectDef

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    sobject TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_object ON records (sobject, is_deleted);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS change_events (
    replay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    change_type TEXT NOT NULL,
    commit_timestamp INTEGER NOT NULL,
    transaction_key TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_events_by_entity ON change_events (entity, replay_id);
CREATE INDEX IF NOT EXISTS change_events_by_time ON change_events (commit_timestamp);
"""


class Transaction:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class SalesforceStore:
    def __init__(self, data_dir: Path | None, objects: Iterable[ObjectDef]) -> None:
        path: Path | str = data_dir / "salesforce.sqlite3" if data_dir else ":memory:"
        self.base = Store(path, SCHEMA + "".join(self._ext_id_indexes(objects)))
        # Called after every commit, so change-event readers (Pub/Sub) wake without polling.
        self.commit_listeners: list[Callable[[], None]] = []

    @staticmethod
    def _ext_id_indexes(objects: Iterable[ObjectDef]) -> list[str]:
        # Expression indexes on the JSON column; field names come from the schema only.
        return [
            f"CREATE INDEX IF NOT EXISTS ext_{obj.name}_{fd.name} ON records "
            f"(sobject, json_extract(data, '$.{fd.name}'));"
            for obj in objects
            for fd in obj.external_ids
        ]

    @property
    def lock(self) -> Any:
        return self.base.lock

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Serialise writers; commit unless aborted, roll back on abort or an exception."""
        async with self.base.lock:
            txn = Transaction()
            try:
                yield txn
            except BaseException:
                await self.base.db.rollback()
                raise
            if txn.aborted:
                await self.base.db.rollback()
            else:
                await self.base.db.commit()
        if not txn.aborted:
            for listener in list(self.commit_listeners):
                listener()

    async def next_value(self, name: str) -> int:
        row = await self.base.fetchone(
            "INSERT INTO sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
            name,
        )
        assert row is not None
        return int(row["value"])

    async def insert(self, sobject: str, record: dict[str, Any]) -> None:
        await self.base.db.execute(
            "INSERT INTO records (id, sobject, is_deleted, data) VALUES (?, ?, 0, ?)",
            (record["Id"], sobject, orjson.dumps(record).decode()),
        )

    async def replace(self, record: dict[str, Any]) -> None:
        await self.base.db.execute(
            "UPDATE records SET data = ?, is_deleted = ? WHERE id = ?",
            (orjson.dumps(record).decode(), int(bool(record.get("IsDeleted"))), record["Id"]),
        )

    async def get(
        self, record_id: str, sobject: str | None = None, *, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        row = await self.base.fetchone(
            "SELECT sobject, is_deleted, data FROM records WHERE id = ?", record_id
        )
        if row is None or (sobject is not None and row["sobject"] != sobject):
            return None
        if row["is_deleted"] and not include_deleted:
            return None
        record: dict[str, Any] = orjson.loads(row["data"])
        return record

    async def sobject_of(self, record_id: str) -> str | None:
        row = await self.base.fetchone(
            "SELECT sobject FROM records WHERE id = ? AND is_deleted = 0", record_id
        )
        return str(row["sobject"]) if row else None

    async def find_by_field(self, sobject: str, field: str, value: object) -> list[dict[str, Any]]:
        rows = await self.base.fetchall(
            # field is a schema-checked external id name, matching the expression index
            f"SELECT data FROM records WHERE sobject = ? AND json_extract(data, '$.{field}') = ? "  # noqa: S608
            "AND is_deleted = 0 ORDER BY rowid",
            sobject,
            value,
        )
        return [orjson.loads(r["data"]) for r in rows]

    async def all(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT data FROM records WHERE sobject = ?"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        rows = await self.base.fetchall(sql + " ORDER BY rowid", sobject)
        return [orjson.loads(r["data"]) for r in rows]

    async def add_change_event(
        self,
        entity: str,
        change_type: str,
        commit_timestamp: int,
        transaction_key: str,
        payload: dict[str, Any],
    ) -> int:
        cursor = await self.base.db.execute(
            "INSERT INTO change_events "
            "(entity, change_type, commit_timestamp, transaction_key, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                entity,
                change_type,
                commit_timestamp,
                transaction_key,
                orjson.dumps(payload).decode(),
            ),
        )
        return int(cursor.lastrowid or 0)

    async def prune_change_events(self, older_than_ms: int) -> None:
        await self.base.db.execute(
            "DELETE FROM change_events WHERE commit_timestamp < ?", (older_than_ms,)
        )

    async def change_events(
        self, after_replay_id: int = 0, entity: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        sql = "SELECT replay_id, entity, payload FROM change_events WHERE replay_id > ?"
        args: list[Any] = [after_replay_id]
        if entity:
            sql += " AND entity = ?"
            args.append(entity)
        rows = await self.base.fetchall(sql + " ORDER BY replay_id LIMIT ?", *args, limit)
        return [
            {"replayId": r["replay_id"], "entity": r["entity"], "event": orjson.loads(r["payload"])}
            for r in rows
        ]

    async def latest_replay_id(self) -> int:
        """The highest replay id ever issued (0 before the first event), pruned or not."""
        row = await self.base.fetchone(
            "SELECT seq FROM sqlite_sequence WHERE name = 'change_events'"
        )
        return int(row["seq"]) if row else 0

    async def clear(self) -> None:
        async with self.base.lock:
            for table in ("records", "sequences", "change_events"):
                await self.base.db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            await self.base.db.commit()
