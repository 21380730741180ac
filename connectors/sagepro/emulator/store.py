"""The emulator's SQLite state: reads that return wire-shaped records, writes under one lock.

Records leave the store already in the contract's field names (``PaymentReference``), with
money as two-place strings, so routes only decide and never format.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from connectors.base.emulator import Store
from connectors.sagepro.emulator.accounting import Application, InvoiceTotals, JournalLineIn
from connectors.sagepro.emulator.schema import DEFAULT_CHART, SCHEMA, TABLES
from connectors.sagepro.money import format_cents

Record = dict[str, Any]

_INVOICE_SQL = """
SELECT i.*,
  COALESCE((SELECT SUM(applied_cents) FROM payments p WHERE p.invoice_id = i.invoice_id), 0)
    AS paid_cents,
  COALESCE((SELECT SUM(amount_cents) FROM credit_memos c WHERE c.invoice_id = i.invoice_id), 0)
    AS credited_cents
FROM invoices i
"""

# The same status rule as InvoiceTotals.status, in SQL so lists can filter and page on it.
INVOICE_LIST_SQL = f"""
SELECT * FROM (
  SELECT b.*, CASE
    WHEN b.total_cents - b.paid_cents - b.credited_cents = b.total_cents THEN 'Open'
    WHEN b.total_cents - b.paid_cents - b.credited_cents = 0 THEN
      CASE WHEN b.paid_cents > 0 THEN 'Paid' ELSE 'Credited' END
    ELSE 'PartiallyPaid' END AS status
  FROM ({_INVOICE_SQL}) AS b
) AS inv
"""  # noqa: S608 - no user input


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flag(value: Any) -> bool:
    return bool(value)


def customer_out(row: aiosqlite.Row) -> Record:
    return {
        "CustomerID": row["customer_id"],
        "Name": row["name"],
        "Email": row["email"],
        "Phone": row["phone"],
        "PayTraceCustomerID": row["paytrace_customer_id"],
        "Memo": row["memo"],
        "CreatedAt": row["created_at"],
    }


def totals_of(row: aiosqlite.Row) -> InvoiceTotals:
    return InvoiceTotals(row["total_cents"], row["paid_cents"], row["credited_cents"])


def invoice_out(row: aiosqlite.Row) -> Record:
    totals = totals_of(row)
    return {
        "InvoiceID": row["invoice_id"],
        "CustomerID": row["customer_id"],
        "InvoiceDate": row["invoice_date"],
        "DueDate": row["due_date"],
        "TotalAmount": format_cents(totals.total),
        "AmountPaid": format_cents(totals.paid),
        "AmountCredited": format_cents(totals.credited),
        "BalanceDue": format_cents(totals.balance),
        "Status": totals.status,
        "OrderNumber": row["order_number"],
        "Memo": row["memo"],
        "NeedsReview": _flag(row["needs_review"]),
        "CreatedAt": row["created_at"],
    }


def order_out(row: aiosqlite.Row) -> Record:
    return {
        "OrderNumber": row["order_number"],
        "CustomerID": row["customer_id"],
        "OrderDate": row["order_date"],
        "TotalAmount": format_cents(row["total_cents"]),
        "Status": row["status"],
        "PaymentStatus": row["payment_status"],
        "PaymentReference": row["payment_reference"],
        "InvoiceID": row["invoice_id"],
        "Memo": row["memo"],
        "NeedsReview": _flag(row["needs_review"]),
        "CreatedAt": row["created_at"],
    }


def payment_out(row: aiosqlite.Row) -> Record:
    return {
        "PaymentReference": row["payment_reference"],
        "PaymentDate": row["payment_date"],
        "Amount": format_cents(row["amount_cents"]),
        "AppliedAmount": format_cents(row["applied_cents"]),
        "UnappliedAmount": format_cents(row["unapplied_cents"]),
        "CustomerID": row["customer_id"],
        "InvoiceID": row["invoice_id"],
        "GLAccountID": row["gl_account_id"],
        "PaymentMethodCode": row["payment_method_code"],
        "PaymentStatus": row["payment_status"],
        "OnAccount": _flag(row["on_account"]),
        "OriginalPaymentReference": row["original_payment_reference"],
        "NeedsReview": _flag(row["needs_review"]),
        "Memo": row["memo"],
        "CreatedAt": row["created_at"],
    }


def credit_memo_out(row: aiosqlite.Row) -> Record:
    return {
        "CreditMemoID": f"CM-{row['seq']:06d}",
        "Reference": row["reference"],
        "InvoiceID": row["invoice_id"],
        "CustomerID": row["customer_id"],
        "MemoDate": row["memo_date"],
        "Amount": format_cents(row["amount_cents"]),
        "Reason": row["reason"],
        "CreatedAt": row["created_at"],
    }


def gl_account_out(row: aiosqlite.Row) -> Record:
    return {
        "GLAccountID": row["gl_account_id"],
        "Name": row["name"],
        "AccountType": row["account_type"],
        "Active": _flag(row["active"]),
    }


class SageStore(Store):
    def __init__(self, data_dir: Path | None) -> None:
        super().__init__(":memory:" if data_dir is None else data_dir / "sagepro.sqlite3", SCHEMA)

    async def open(self) -> None:
        await super().open()
        await self.db.execute("PRAGMA foreign_keys=ON")
        await self.seed_chart()

    async def seed_chart(self) -> None:
        await self.db.executemany(
            "INSERT OR IGNORE INTO gl_accounts (gl_account_id, name, account_type) VALUES (?,?,?)",
            DEFAULT_CHART,
        )
        await self.db.commit()

    async def reset(self) -> None:
        async with self.lock:
            for table in TABLES:
                await self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed names
            await self.db.execute("DELETE FROM sqlite_sequence")
            await self.db.commit()
            await self.seed_chart()

    async def next_id(self, table: str, key: str, prefix: str) -> str:
        """The next free PREFIX-000001 style id for records created without one."""
        row = await self.fetchone(f"SELECT COUNT(*) AS n FROM {table}")  # noqa: S608
        n = int(row["n"]) + 1 if row else 1
        while await self.fetchone(f"SELECT 1 FROM {table} WHERE {key} = ?", f"{prefix}{n:06d}"):  # noqa: S608
            n += 1
        return f"{prefix}{n:06d}"

    # --- reads ---------------------------------------------------------------------------

    async def customer(self, customer_id: str) -> Record | None:
        row = await self.fetchone("SELECT * FROM customers WHERE customer_id = ?", customer_id)
        return customer_out(row) if row else None

    async def invoice_row(self, invoice_id: str) -> aiosqlite.Row | None:
        return await self.fetchone(_INVOICE_SQL + " WHERE i.invoice_id = ?", invoice_id)

    async def invoice(self, invoice_id: str) -> Record | None:
        row = await self.invoice_row(invoice_id)
        return invoice_out(row) if row else None

    async def order(self, order_number: str) -> Record | None:
        row = await self.fetchone("SELECT * FROM orders WHERE order_number = ?", order_number)
        return order_out(row) if row else None

    async def payment_row(self, reference: str) -> aiosqlite.Row | None:
        return await self.fetchone("SELECT * FROM payments WHERE payment_reference = ?", reference)

    async def payment(self, reference: str) -> Record | None:
        row = await self.payment_row(reference)
        return payment_out(row) if row else None

    async def remaining_of(self, original: aiosqlite.Row) -> Application:
        """What of a payment is still in place after the refunds/voids already posted."""
        row = await self.fetchone(
            "SELECT COALESCE(SUM(applied_cents),0) AS a, COALESCE(SUM(unapplied_cents),0) AS u"
            " FROM payments WHERE original_payment_reference = ?",
            original["payment_reference"],
        )
        reversed_applied = int(row["a"]) if row else 0
        reversed_unapplied = int(row["u"]) if row else 0
        return Application(
            original["applied_cents"] + reversed_applied,
            original["unapplied_cents"] + reversed_unapplied,
        )

    async def journal_entry(self, reference: str) -> Record | None:
        row = await self.fetchone("SELECT * FROM journal_entries WHERE reference = ?", reference)
        return await self.journal_out(row) if row else None

    async def journal_out(self, row: aiosqlite.Row) -> Record:
        lines = await self.fetchall(
            "SELECT * FROM journal_lines WHERE entry_seq = ? ORDER BY line_no", row["seq"]
        )
        return {
            "JournalEntryID": f"JE-{row['seq']:06d}",
            "Reference": row["reference"],
            "EntryDate": row["entry_date"],
            "Memo": row["memo"],
            "CreatedAt": row["created_at"],
            "Lines": [
                {
                    "GLAccountID": line["gl_account_id"],
                    "Debit": format_cents(line["debit_cents"]),
                    "Credit": format_cents(line["credit_cents"]),
                    "Memo": line["memo"],
                }
                for line in lines
            ],
        }

    async def credit_memo(self, reference: str) -> Record | None:
        row = await self.fetchone("SELECT * FROM credit_memos WHERE reference = ?", reference)
        return credit_memo_out(row) if row else None

    async def gl_accounts(self) -> dict[str, bool]:
        rows = await self.fetchall("SELECT gl_account_id, active FROM gl_accounts")
        return {row["gl_account_id"]: bool(row["active"]) for row in rows}

    # --- writes (callers hold self.lock) --------------------------------------------------

    async def insert(self, table: str, values: Record) -> int:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = await self.db.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 - our own names
            tuple(values.values()),
        )
        return int(cursor.lastrowid or 0)

    async def update(self, table: str, key: str, key_value: str, values: Record) -> None:
        if not values:
            return
        assignments = ", ".join(f"{column} = ?" for column in values)
        await self.db.execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = ?",  # noqa: S608 - our own names
            (*values.values(), key_value),
        )

    async def insert_journal(
        self, reference: str, entry_date: str, memo: str | None, lines: list[JournalLineIn]
    ) -> None:
        seq = await self.insert(
            "journal_entries",
            {"reference": reference, "entry_date": entry_date, "memo": memo, "created_at": now()},
        )
        await self.db.executemany(
            "INSERT INTO journal_lines (entry_seq, line_no, gl_account_id, debit_cents,"
            " credit_cents, memo) VALUES (?,?,?,?,?,?)",
            [
                (seq, n, line.gl_account_id, line.debit, line.credit, line.memo)
                for n, line in enumerate(lines, start=1)
            ],
        )
