"""/api/payments, /api/journalentries, /api/creditmemos, /api/glaccounts.

Every post is idempotent by its reference: a repeat is a 409 whose body carries the record
already stored. Checks run under the store lock, so two racing posts cannot both pass.
"""

from __future__ import annotations

from aiohttp import web

from connectors.base.emulator import json_response
from connectors.sagepro.emulator.accounting import (
    Application,
    apply_payment,
    apply_reversal,
    check_credit,
    check_journal,
    journal_line_issues,
)
from connectors.sagepro.emulator.listing import list_response
from connectors.sagepro.emulator.parsing import Fields, read_body
from connectors.sagepro.emulator.problems import ApiError, duplicate, invalid, not_found
from connectors.sagepro.emulator.routes_records import PAYMENT_STATUSES, STORE_KEY
from connectors.sagepro.emulator.store import (
    SageStore,
    credit_memo_out,
    gl_account_out,
    now,
    payment_out,
    totals_of,
)

PAYMENT_METHODS = {"CC", "ACH", "CHECK", "CASH", "WIRE", "OTHER"}
REVERSALS = {"Refunded", "Voided"}


def _store(request: web.Request) -> SageStore:
    return request.app[STORE_KEY]


# --- payments --------------------------------------------------------------------------


def _payment_amount(fields: Fields) -> int | None:
    """Amount in cents, with the sign and reference rules that need no stored state."""
    status = fields.body.get("PaymentStatus", "Paid")
    cents = fields.cents("Amount", required=True, positive=False)
    if cents is None:
        return None
    if status in REVERSALS:
        if cents >= 0:
            fields.issue("Amount", "must be below 0 for a refund or void")
        if not fields.body.get("OriginalPaymentReference"):
            fields.issue("OriginalPaymentReference", "is required for a refund or void")
    else:
        if cents <= 0:
            fields.issue("Amount", "must be greater than 0")
        if fields.body.get("OriginalPaymentReference"):
            fields.issue("OriginalPaymentReference", "only refunds and voids name one")
    if status == "OnAccount" and fields.body.get("InvoiceID"):
        fields.issue("InvoiceID", "must be empty for an OnAccount payment")
    return cents


async def post_payment(request: web.Request) -> web.Response:
    store = _store(request)
    fields = Fields(await read_body(request))
    reference = fields.text("PaymentReference", required=True)
    payment_date = fields.day("PaymentDate", required=True)
    customer_id = fields.text("CustomerID", required=True)
    invoice_id = fields.text("InvoiceID")
    gl_account_id = fields.text("GLAccountID") or "1010"
    method = fields.choice("PaymentMethodCode", PAYMENT_METHODS, default="CC")
    status = fields.choice("PaymentStatus", PAYMENT_STATUSES, default="Paid")
    on_account = bool(fields.flag("OnAccount"))
    original = fields.text("OriginalPaymentReference")
    needs_review = bool(fields.flag("NeedsReview"))
    memo = fields.text("Memo")
    amount = _payment_amount(fields)
    fields.check()
    assert reference and payment_date and customer_id and status and amount  # checked above

    async with store.lock:
        existing = await store.payment(reference)
        if existing is not None:
            raise duplicate("DUPLICATE_PAYMENT", "PaymentReference", reference, existing)
        if await store.customer(customer_id) is None:
            raise not_found("CUSTOMER_NOT_FOUND", "CustomerID", customer_id)
        if not (await store.gl_accounts()).get(gl_account_id):
            raise invalid("UNKNOWN_GL_ACCOUNT", "GLAccountID", f"{gl_account_id!r} not usable")
        if status in REVERSALS:
            assert original is not None
            orig = await store.payment_row(original)
            if orig is None:
                raise not_found("PAYMENT_NOT_FOUND", "OriginalPaymentReference", original)
            if orig["payment_status"] not in ("Paid", "OnAccount"):
                raise invalid("VALIDATION_ERROR", "OriginalPaymentReference", "not a payment")
            if orig["customer_id"] != customer_id:
                raise invalid("VALIDATION_ERROR", "CustomerID", "differs from the original's")
            if invoice_id is not None and invoice_id != orig["invoice_id"]:
                raise invalid("VALIDATION_ERROR", "InvoiceID", "differs from the original's")
            invoice_id = orig["invoice_id"]
            remaining = await store.remaining_of(orig)
            split = apply_reversal(remaining, amount, status=status, original_reference=original)
        else:
            balance: int | None = None
            if invoice_id is not None:
                row = await store.invoice_row(invoice_id)
                if row is None:
                    raise not_found("INVOICE_NOT_FOUND", "InvoiceID", invoice_id)
                if row["customer_id"] != customer_id:
                    raise invalid(
                        "INVOICE_CUSTOMER_MISMATCH", "InvoiceID", "belongs to another customer"
                    )
                balance = totals_of(row).balance
            if status == "Failed":
                split = Application(0, 0)  # recorded for the trail; moves no money
            else:
                on_account = on_account or status == "OnAccount"
                split = apply_payment(balance, amount, on_account=on_account)
                if invoice_id is None:
                    status = "OnAccount"
        await store.insert(
            "payments",
            {
                "payment_reference": reference,
                "payment_date": payment_date.isoformat(),
                "amount_cents": amount,
                "applied_cents": split.applied,
                "unapplied_cents": split.unapplied,
                "customer_id": customer_id,
                "invoice_id": invoice_id,
                "gl_account_id": gl_account_id,
                "payment_method_code": method,
                "payment_status": status,
                "on_account": int(on_account),
                "original_payment_reference": original,
                "needs_review": int(needs_review),
                "memo": memo,
                "created_at": now(),
            },
        )
        await store.db.commit()
    return json_response(await store.payment(reference), status=201)


async def get_payment(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).payment(key)
    if record is None:
        raise not_found("PAYMENT_NOT_FOUND", "PaymentReference", key)
    return json_response(record)


async def list_payments(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        "SELECT * FROM payments",
        {
            "CustomerID": "customer_id",
            "InvoiceID": "invoice_id",
            "PaymentStatus": "payment_status",
            "OriginalPaymentReference": "original_payment_reference",
        },
        payment_out,
        order_by="seq",
        date_column="payment_date",
        bool_filters={"NeedsReview": "needs_review"},
    )


# --- journal entries -------------------------------------------------------------------


async def post_journal_entry(request: web.Request) -> web.Response:
    store = _store(request)
    body = await read_body(request)
    fields = Fields(body)
    reference = fields.text("Reference", required=True)
    entry_date = fields.day("EntryDate", required=True)
    memo = fields.text("Memo")
    lines, line_issues = journal_line_issues(body.get("Lines"))
    fields.issues.extend(line_issues)
    fields.check()
    assert reference and entry_date
    async with store.lock:
        existing = await store.journal_entry(reference)
        if existing is not None:
            raise duplicate("DUPLICATE_JOURNAL_ENTRY", "Reference", reference, existing)
        check_journal(lines, await store.gl_accounts())
        await store.insert_journal(reference, entry_date.isoformat(), memo, lines)
        await store.db.commit()
    return json_response(await store.journal_entry(reference), status=201)


async def get_journal_entry(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).journal_entry(key)
    if record is None:
        raise not_found("JOURNAL_ENTRY_NOT_FOUND", "Reference", key)
    return json_response(record)


async def list_journal_entries(request: web.Request) -> web.Response:
    store = _store(request)
    return await list_response(
        request,
        store,
        "SELECT * FROM journal_entries",
        {"Reference": "reference"},
        store.journal_out,
        order_by="seq",
        date_column="entry_date",
    )


# --- credit memos ----------------------------------------------------------------------


async def post_credit_memo(request: web.Request) -> web.Response:
    store = _store(request)
    fields = Fields(await read_body(request))
    reference = fields.text("Reference", required=True)
    invoice_id = fields.text("InvoiceID", required=True)
    customer_id = fields.text("CustomerID")
    memo_date = fields.day("MemoDate", required=True)
    amount = fields.cents("Amount", required=True)
    reason = fields.text("Reason")
    fields.check()
    assert reference and invoice_id and memo_date and amount
    async with store.lock:
        existing = await store.credit_memo(reference)
        if existing is not None:
            raise duplicate("DUPLICATE_CREDIT_MEMO", "Reference", reference, existing)
        row = await store.invoice_row(invoice_id)
        if row is None:
            raise not_found("INVOICE_NOT_FOUND", "InvoiceID", invoice_id)
        if customer_id is not None and customer_id != row["customer_id"]:
            raise invalid("INVOICE_CUSTOMER_MISMATCH", "CustomerID", "invoice is another's")
        check_credit(totals_of(row), amount)
        await store.insert(
            "credit_memos",
            {
                "reference": reference,
                "invoice_id": invoice_id,
                "customer_id": row["customer_id"],
                "memo_date": memo_date.isoformat(),
                "amount_cents": amount,
                "reason": reason,
                "created_at": now(),
            },
        )
        await store.db.commit()
    return json_response(await store.credit_memo(reference), status=201)


async def get_credit_memo(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    record = await _store(request).credit_memo(key)
    if record is None:
        raise not_found("CREDIT_MEMO_NOT_FOUND", "Reference", key)
    return json_response(record)


async def list_credit_memos(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        "SELECT * FROM credit_memos",
        {"InvoiceID": "invoice_id", "CustomerID": "customer_id", "Reference": "reference"},
        credit_memo_out,
        order_by="seq",
        date_column="memo_date",
    )


# --- chart of accounts -----------------------------------------------------------------


async def list_gl_accounts(request: web.Request) -> web.Response:
    return await list_response(
        request,
        _store(request),
        "SELECT * FROM gl_accounts",
        {"AccountType": "account_type"},
        gl_account_out,
        order_by="gl_account_id",
    )


async def get_gl_account(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    row = await _store(request).fetchone("SELECT * FROM gl_accounts WHERE gl_account_id = ?", key)
    if row is None:
        raise ApiError(404, "GL_ACCOUNT_NOT_FOUND", f"GL account {key!r} not found")
    return json_response(gl_account_out(row))


def add_ledger_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/payments", post_payment)
    router.add_get("/api/payments", list_payments)
    router.add_get("/api/payments/{key}", get_payment)
    router.add_post("/api/journalentries", post_journal_entry)
    router.add_get("/api/journalentries", list_journal_entries)
    router.add_get("/api/journalentries/{key}", get_journal_entry)
    router.add_post("/api/creditmemos", post_credit_memo)
    router.add_get("/api/creditmemos", list_credit_memos)
    router.add_get("/api/creditmemos/{key}", get_credit_memo)
    router.add_get("/api/glaccounts", list_gl_accounts)
    router.add_get("/api/glaccounts/{key}", get_gl_account)
