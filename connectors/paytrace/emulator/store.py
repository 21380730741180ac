"""The emulator's state in SQLite: transactions, vaulted customers, settled batches.

Cards are kept as masked number, last four, type and expiry only; customers add a random
vault token. Money is integer cents. ``created_at`` is UTC epoch seconds, indexed, so a
date-range export is one index range scan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiosqlite

from connectors.base.emulator import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS transactions (
    transaction_id INTEGER PRIMARY KEY,
    transaction_type TEXT NOT NULL,
    status TEXT NOT NULL,
    response_code INTEGER NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    amount_cents INTEGER NOT NULL,
    authorized_cents INTEGER NOT NULL,
    refunded_cents INTEGER NOT NULL DEFAULT 0,
    tax_cents INTEGER,
    invoice_id TEXT NOT NULL DEFAULT '',
    customer_reference_id TEXT NOT NULL DEFAULT '',
    customer_id TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    masked_number TEXT NOT NULL,
    last_four TEXT NOT NULL,
    card_type TEXT NOT NULL,
    expiration_month INTEGER NOT NULL,
    expiration_year INTEGER NOT NULL,
    billing_address TEXT,
    shipping_address TEXT,
    approval_code TEXT NOT NULL DEFAULT '',
    approval_message TEXT NOT NULL DEFAULT '',
    avs_response TEXT NOT NULL DEFAULT '',
    csc_response TEXT NOT NULL DEFAULT '',
    external_transaction_id TEXT NOT NULL DEFAULT '',
    original_transaction_id INTEGER,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    from_ip TEXT NOT NULL DEFAULT '',
    settled_at REAL,
    batch_number INTEGER
);
CREATE INDEX IF NOT EXISTS transactions_by_created ON transactions (created_at);
CREATE INDEX IF NOT EXISTS transactions_by_batch ON transactions (batch_number);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    vault_token TEXT NOT NULL,
    masked_number TEXT NOT NULL,
    last_four TEXT NOT NULL,
    card_type TEXT NOT NULL,
    expiration_month INTEGER NOT NULL,
    expiration_year INTEGER NOT NULL,
    always_declines INTEGER NOT NULL DEFAULT 0,
    billing_address TEXT,
    shipping_address TEXT,
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    fax TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    from_ip TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_number INTEGER PRIMARY KEY,
    settled_at REAL NOT NULL,
    transaction_count INTEGER NOT NULL,
    sales_count INTEGER NOT NULL,
    sales_cents INTEGER NOT NULL,
    refund_count INTEGER NOT NULL,
    refund_cents INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_settled ON batches (settled_at);
"""

FIRST_TRANSACTION_ID = 100_000_001
# What settlement takes: money that moved and was not voided or left uncaptured.
SETTLEABLE = (
    "settled_at IS NULL AND ("
    "(transaction_type = 'SALE' AND status = 'APPROVED') OR "
    "(transaction_type = 'AUTHORIZATION' AND status = 'CAPTURED') OR "
    "(transaction_type = 'REFUND' AND status = 'APPROVED'))"
)
# Export filters the emulator honours, each an exact match on its column.
FILTER_COLUMNS = ("transaction_type", "customer_id", "invoice_id")

Row = aiosqlite.Row


def _assignments(fields: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} = ?" for name in fields)


class PayTraceStore(Store):
    def __init__(self, path: str) -> None:
        super().__init__(path, SCHEMA)

    async def open(self) -> None:
        await super().open()
        # WAL with NORMAL sync: no fsync per commit; a demo doing thousands of writes stays fast.
        await self.db.execute("PRAGMA synchronous=NORMAL")

    async def reset(self) -> None:
        async with self.lock:
            await self.db.executescript(
                "DELETE FROM transactions; DELETE FROM customers; DELETE FROM batches;"
            )
            await self.db.commit()

    # --- transactions ----------------------------------------------------------------------

    async def add_transaction(self, build: Callable[[int], Mapping[str, Any]]) -> int:
        """Insert the row ``build(new_id)`` returns (outcomes may depend on the id)."""
        async with self.lock:
            row = await self.fetchone("SELECT MAX(transaction_id) FROM transactions")
            last = row[0] if row is not None and row[0] is not None else FIRST_TRANSACTION_ID - 1
            transaction_id = int(last) + 1
            fields = build(transaction_id)
            columns = ["transaction_id", *fields]
            await self.db.execute(
                f"INSERT INTO transactions ({', '.join(columns)}) "  # noqa: S608
                f"VALUES ({', '.join('?' for _ in columns)})",
                (transaction_id, *fields.values()),
            )
            await self.db.commit()
            return transaction_id

    async def add_transactions(
        self, build: Callable[[int, int], Mapping[str, Any]], count: int
    ) -> int:
        """Insert ``count`` rows ``build(index, new_id)`` in one statement (the seed control);
        returns the first id. Ids follow on from the last, as single sales do."""
        async with self.lock:
            row = await self.fetchone("SELECT MAX(transaction_id) FROM transactions")
            last = row[0] if row is not None and row[0] is not None else FIRST_TRANSACTION_ID - 1
            first = int(last) + 1
            rows = [build(i, first + i) for i in range(count)]
            if rows:
                columns = ["transaction_id", *rows[0]]
                await self.db.executemany(
                    f"INSERT INTO transactions ({', '.join(columns)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    [(first + i, *r.values()) for i, r in enumerate(rows)],
                )
                await self.db.commit()
            return first

    async def transaction(self, transaction_id: int) -> Row | None:
        return await self.fetchone(
            "SELECT * FROM transactions WHERE transaction_id = ?", transaction_id
        )

    async def update_transaction(self, transaction_id: int, fields: Mapping[str, Any]) -> None:
        async with self.lock:
            await self.db.execute(
                f"UPDATE transactions SET {_assignments(fields)} WHERE transaction_id = ?",  # noqa: S608
                (*fields.values(), transaction_id),
            )
            await self.db.commit()

    async def transactions_created(
        self, start: float, end: float, filters: Mapping[str, Any]
    ) -> list[Row]:
        where = ["created_at >= ?", "created_at < ?"]
        args: list[Any] = [start, end]
        for column in FILTER_COLUMNS:
            value = filters.get(column)
            if value not in (None, ""):
                where.append(f"{column} = ?")
                args.append(str(value).upper() if column == "transaction_type" else str(value))
        return await self.fetchall(
            f"SELECT * FROM transactions WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY created_at, transaction_id",
            *args,
        )

    # --- customers -------------------------------------------------------------------------

    async def customer(self, customer_id: str) -> Row | None:
        return await self.fetchone("SELECT * FROM customers WHERE customer_id = ?", customer_id)

    async def add_customer(self, fields: Mapping[str, Any]) -> bool:
        """False when the customer id is taken."""
        columns = list(fields)
        async with self.lock:
            try:
                await self.db.execute(
                    f"INSERT INTO customers ({', '.join(columns)}) "  # noqa: S608
                    f"VALUES ({', '.join('?' for _ in columns)})",
                    tuple(fields.values()),
                )
            except aiosqlite.IntegrityError:
                return False
            await self.db.commit()
            return True

    async def update_customer(self, customer_id: str, fields: Mapping[str, Any]) -> bool:
        """False when ``fields`` renames onto a customer id that is taken."""
        async with self.lock:
            try:
                await self.db.execute(
                    f"UPDATE customers SET {_assignments(fields)} WHERE customer_id = ?",  # noqa: S608
                    (*fields.values(), customer_id),
                )
            except aiosqlite.IntegrityError:
                return False
            await self.db.commit()
            return True

    async def delete_customer(self, customer_id: str) -> None:
        async with self.lock:
            await self.db.execute("DELETE FROM customers WHERE customer_id = ?", (customer_id,))
            await self.db.commit()

    async def customers(self, customer_id: str | None, email: str | None) -> list[Row]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if customer_id:
            where.append("customer_id = ?")
            args.append(customer_id)
        if email:
            where.append("email = ?")
            args.append(email)
        return await self.fetchall(
            f"SELECT * FROM customers WHERE {' AND '.join(where)} ORDER BY created_at",  # noqa: S608
            *args,
        )

    # --- settlement ------------------------------------------------------------------------

    async def settle(self, now: float) -> Row | None:
        """Close the open batch: settle what is settleable, record the batch; None if empty."""
        async with self.lock:
            rows = await self.fetchall(
                f"SELECT transaction_type, amount_cents FROM transactions WHERE {SETTLEABLE}"  # noqa: S608
            )
            if not rows:
                return None
            last = await self.fetchone("SELECT MAX(batch_number) FROM batches")
            batch_number = int(last[0]) + 1 if last is not None and last[0] is not None else 1
            sales = [r["amount_cents"] for r in rows if r["transaction_type"] != "REFUND"]
            refunds = [r["amount_cents"] for r in rows if r["transaction_type"] == "REFUND"]
            await self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                (batch_number, now, len(rows), len(sales), sum(sales), len(refunds), sum(refunds)),
            )
            await self.db.execute(
                f"UPDATE transactions SET settled_at = ?, batch_number = ? WHERE {SETTLEABLE}",  # noqa: S608
                (now, batch_number),
            )
            await self.db.commit()
        return await self.fetchone("SELECT * FROM batches WHERE batch_number = ?", batch_number)

    async def batches(
        self, span: tuple[float, float] | None, batch_number: int | None
    ) -> list[Row]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if span is not None:
            where.append("settled_at >= ? AND settled_at < ?")
            args.extend(span)
        if batch_number is not None:
            where.append("batch_number = ?")
            args.append(batch_number)
        return await self.fetchall(
            f"SELECT * FROM batches WHERE {' AND '.join(where)} ORDER BY batch_number",  # noqa: S608
            *args,
        )

    async def batch_transactions(self, batch_numbers: Iterable[int]) -> list[Row]:
        numbers = list(batch_numbers)
        if not numbers:
            return []
        return await self.fetchall(
            f"SELECT * FROM transactions WHERE batch_number IN ({', '.join('?' for _ in numbers)}) "  # noqa: S608
            "ORDER BY transaction_id",
            *numbers,
        )
