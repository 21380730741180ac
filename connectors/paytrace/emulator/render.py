"""PayTrace-shaped JSON bodies: errors, transaction results and export records.

Key names and formats follow the examples in PayTrace's public JSON API documentation;
``status``, ``original_transaction_id`` and ``batch_number`` on export records are the
emulator's additions (see EMULATOR.md).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from connectors.base.emulator import json_response
from connectors.paytrace.emulator.clock import EmulatorClock
from connectors.paytrace.emulator.rules import RequestError
from connectors.paytrace.emulator.store import Row

ERRORS_OCCURRED = "One or more errors has occurred."
REQUEST_COMPLETED = "Your request has been successfully completed."
# A processed request that did not go through (decline etc.): PayTrace answers HTTP 400.
OUTCOME_FAILED_STATUS = 400
BILLING_KEYS = ("name", "street_address", "street_address2", "city", "state", "zip", "country")
SHIPPING_KEYS = (*BILLING_KEYS[:4], "county", *BILLING_KEYS[4:])


def error_response(*errors: RequestError, status: int = 400) -> web.Response:
    body = {
        "success": False,
        "response_code": 1,
        "status_message": ERRORS_OCCURRED,
        "errors": {key: [message] for error in errors for key, message in error.errors.items()},
        "external_transaction_id": "",
    }
    return json_response(body, status=status)


def oauth_error(error: str, description: str, status: int) -> web.Response:
    headers = {}
    if error == "invalid_token":
        headers["WWW-Authenticate"] = (
            f'Bearer realm="PayTrace", error="invalid_token", error_description="{description}"'
        )
    return json_response(
        {"error": error, "error_description": description}, status=status, headers=headers
    )


def outcome_response(body: dict[str, Any]) -> web.Response:
    return json_response(body, status=200 if body["success"] else OUTCOME_FAILED_STATUS)


def completed(**payload: Any) -> web.Response:
    return json_response(
        {"success": True, "response_code": 1, "status_message": REQUEST_COMPLETED, **payload}
    )


def amount(cents: int | None) -> int | float | str:
    """Whole dollars as integers (``"amount": 110`` in PayTrace's example), else 2 places."""
    if cents is None:
        return ""
    return cents // 100 if cents % 100 == 0 else round(cents / 100, 2)


def tax_amount(cents: int | None) -> str:
    return "" if cents is None else f"{cents / 100:.2f}"


def address_to_db(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    kept = {key: str(raw[key]) for key in SHIPPING_KEYS if raw.get(key) is not None}
    return orjson.dumps(kept).decode()


def address_from_db(stored: str | None, keys: tuple[str, ...]) -> dict[str, str]:
    values = orjson.loads(stored) if stored else {}
    return {key: values.get(key, "") for key in keys}


def billing_zip(stored: str | None) -> str | None:
    if not stored:
        return None
    zip_code = orjson.loads(stored).get("zip")
    return None if zip_code in (None, "") else str(zip_code)


def transaction_record(row: Row, clock: EmulatorClock) -> dict[str, Any]:
    """One transaction as ``/v1/transactions/export/*`` lists it."""
    return {
        "transaction_id": row["transaction_id"],
        "credit_card": {
            "masked_number": "*" * (len(row["masked_number"]) - 4) + row["last_four"],
            "expiration_month": row["expiration_month"],
            "expiration_year": row["expiration_year"] % 100,
        },
        "transaction_type": row["transaction_type"],
        "status": row["status"],
        "description": row["description"],
        "amount": amount(row["amount_cents"]),
        "invoice_id": row["invoice_id"],
        "shipping_address": address_from_db(row["shipping_address"], SHIPPING_KEYS),
        "billing_address": address_from_db(row["billing_address"], BILLING_KEYS),
        "receipt_emailed_to": row["email"],
        "tax_amount": tax_amount(row["tax_cents"]),
        "customer_reference_id": row["customer_reference_id"],
        "approval_code": row["approval_code"],
        "approval_message": row["approval_message"],
        "avs_response": row["avs_response"],
        "csc_response": row["csc_response"],
        "status_code": str(row["response_code"]),
        "status_message": row["status_message"],
        "created": {
            "through": "API",
            "at": clock.export_time(row["created_at"]),
            "by": row["created_by"],
            "from_ip": row["from_ip"],
        },
        "settled": clock.export_time(row["settled_at"]),
        "customer_id": row["customer_id"],
        "original_transaction_id": row["original_transaction_id"],
        "batch_number": row["batch_number"],
    }


def customer_record(row: Row, clock: EmulatorClock) -> dict[str, Any]:
    return {
        "customer_id": row["customer_id"],
        "credit_card": {
            "masked_number": "*" * (len(row["masked_number"]) - 4) + row["last_four"],
            "expiration_month": row["expiration_month"],
            "expiration_year": row["expiration_year"] % 100,
        },
        "billing_address": address_from_db(row["billing_address"], BILLING_KEYS),
        "shipping_address": address_from_db(row["shipping_address"], SHIPPING_KEYS),
        "email": row["email"],
        "phone": row["phone"],
        "fax": row["fax"],
        "created": {
            "through": "API",
            "at": clock.export_time(row["created_at"]),
            "by": row["created_by"],
            "from_ip": row["from_ip"],
        },
        "discretionary_data": {},
    }


def batch_record(
    row: Row, clock: EmulatorClock, transactions: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "batch_number": row["batch_number"],
        "settled": clock.export_time(row["settled_at"]),
        "transaction_count": row["transaction_count"],
        "net_amount": amount(row["sales_cents"] - row["refund_cents"]),
        "sales_count": row["sales_count"],
        "sales_amount": amount(row["sales_cents"]),
        "refund_count": row["refund_count"],
        "refund_amount": amount(row["refund_cents"]),
        "transactions": transactions,
    }
