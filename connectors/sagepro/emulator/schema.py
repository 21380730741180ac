"""SQLite schema of the Sage Pro emulator and the chart of accounts it starts with.

Money columns hold integer cents. Balances are never stored: they are derived from the
invoice total and the payments and credit memos applied to it, so they cannot drift.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS gl_accounts (
    gl_account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    account_type TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    paytrace_customer_id TEXT,
    memo TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    invoice_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    invoice_date TEXT NOT NULL,
    due_date TEXT,
    total_cents INTEGER NOT NULL CHECK (total_cents > 0),
    order_number TEXT,
    memo TEXT,
    needs_review INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    order_number TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    order_date TEXT NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents > 0),
    status TEXT NOT NULL,
    payment_status TEXT,
    payment_reference TEXT,
    invoice_id TEXT,
    memo TEXT,
    needs_review INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_reference TEXT NOT NULL UNIQUE,
    payment_date TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    applied_cents INTEGER NOT NULL,    -- reduces (or, for refunds, restores) invoice balance
    unapplied_cents INTEGER NOT NULL,  -- held on account (2100 Customer Deposits)
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    invoice_id TEXT REFERENCES invoices(invoice_id),
    gl_account_id TEXT NOT NULL REFERENCES gl_accounts(gl_account_id),
    payment_method_code TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    on_account INTEGER NOT NULL,
    original_payment_reference TEXT,
    needs_review INTEGER NOT NULL DEFAULT 0,
    memo TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_invoice ON payments(invoice_id);
CREATE INDEX IF NOT EXISTS payments_original ON payments(original_payment_reference);
CREATE TABLE IF NOT EXISTS journal_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    entry_date TEXT NOT NULL,
    memo TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_lines (
    entry_seq INTEGER NOT NULL REFERENCES journal_entries(seq),
    line_no INTEGER NOT NULL,
    gl_account_id TEXT NOT NULL REFERENCES gl_accounts(gl_account_id),
    debit_cents INTEGER NOT NULL CHECK (debit_cents >= 0),
    credit_cents INTEGER NOT NULL CHECK (credit_cents >= 0),
    memo TEXT,
    PRIMARY KEY (entry_seq, line_no)
);
CREATE TABLE IF NOT EXISTS credit_memos (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    invoice_id TEXT NOT NULL REFERENCES invoices(invoice_id),
    customer_id TEXT NOT NULL REFERENCES customers(customer_id),
    memo_date TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS credit_memos_invoice ON credit_memos(invoice_id);
"""

TABLES = (
    "journal_lines",
    "journal_entries",
    "credit_memos",
    "payments",
    "orders",
    "invoices",
    "customers",
    "gl_accounts",
)

# (id, name, type): what a small merchant's Sage Pro books start with.
DEFAULT_CHART: tuple[tuple[str, str, str], ...] = (
    ("1000", "Cash - Operating", "Asset"),
    ("1010", "Undeposited Funds / Merchant Clearing", "Asset"),
    ("1200", "Accounts Receivable", "Asset"),
    ("1210", "Chargebacks Receivable", "Asset"),
    ("2100", "Customer Deposits / Unapplied Payments", "Liability"),
    ("4000", "Sales Revenue", "Revenue"),
    ("4900", "Sales Returns & Refunds", "ContraRevenue"),
    ("6150", "Merchant Fees", "Expense"),
)
