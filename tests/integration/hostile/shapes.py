"""Well-formed records of each topic the pipeline reads, as its own producers shape them.

Valid PayTrace records look like the poller's (agents/paytrace_source.py ``record_payload``):
the export's own fields and time format, the card number masked as PayTrace exports it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

VALID_ID_BASE = 900_000_000  # the 200 valid transactions
CARD_TEXT_ID_BASE = 910_000_000  # valid transactions with card numbers typed into free text
FAILING_ORIGINAL = 777_000_555  # PayTrace answers 5xx for this id, for good
MASKED = "411111xxxxxx1111"


def export_time(moment: datetime) -> str:
    hour = moment.hour % 12 or 12
    suffix = "AM" if moment.hour < 12 else "PM"
    return (
        f"{moment.month}/{moment.day}/{moment.year} "
        f"{hour}:{moment.minute:02d}:{moment.second:02d} {suffix}"
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def paytrace_record(transaction_id: int | str, /, **fields: Any) -> dict[str, Any]:
    created = now() - timedelta(minutes=5)
    record: dict[str, Any] = {
        "transaction_id": transaction_id,
        "transaction_type": "SALE",
        "status": "Approved",
        "description": "rep=R-7;campaign=spring",
        "amount": f"{10 + sum(map(ord, str(transaction_id)[-3:])) % 500}.25",
        "invoice_id": f"INV-{transaction_id}",
        "customer_id": "",
        "credit_card": {"masked_number": MASKED, "expiration_month": 12, "expiration_year": 2030},
        "approval_code": "TAS123",
        "approval_message": "  APPROVAL TAS123  - Approved and completed",
        "status_message": "Your transaction was successfully approved.",
        "created": {"through": "API", "at": export_time(created), "by": "demo", "from_ip": ""},
    }
    record.update(fields)
    return record


def raw_value(record: dict[str, Any], /, **outer: Any) -> dict[str, Any]:
    return {
        "source": "poll",
        "fetched_at": now().isoformat(),
        "merchant_timezone": "UTC",
        "record": record,
        **outer,
    }


def payment(transaction_id: str, /, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "transaction_id": transaction_id,
        "type": "sale",
        "status": "approved",
        "source_status": "Approved",
        "amount": "12.50",
        "currency": "USD",
        "occurred_at": (now() - timedelta(minutes=5)).isoformat(),
        "last_four": "1111",
        "card_type": "VISA",
    }
    value.update(fields)
    return value


def change(entity: str, record_ids: list[str], values: dict[str, Any], /, **fields: Any) -> dict:
    value: dict[str, Any] = {
        "source": "cdc",
        "topic": f"/data/{entity}ChangeEvent",
        "entity": entity,
        "change_type": "UPDATE",
        "record_ids": record_ids,
        "changed_fields": list(values),
        "values": values,
        "commit_timestamp": int(now().timestamp() * 1000),
        "transaction_key": "tx-hostile",
        "change_origin": "com/salesforce/api/rest/62.0;client=someone-else",
        "replay_id": "00ff",
        "event_id": "evt-hostile",
    }
    value.update(fields)
    return value


def command(record_id: str, /, **fields: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "key": f"Opportunity:{record_id}:closed_won",
        "object": "Opportunity",
        "record_id": record_id,
        "trigger": "closed_won",
        "requested_at": now().isoformat(),
    }
    value.update(fields)
    return value


def settlement(batch_number: int, transaction_ids: list[str]) -> dict[str, Any]:
    at = (now() - timedelta(minutes=1)).isoformat()
    transactions = [
        {"transaction_id": t, "transaction_type": "SALE", "amount": "1.00", "created_at": at}
        for t in transaction_ids
    ]
    total = f"{len(transactions)}.00"
    return {
        "batch_number": batch_number,
        "settled_at": at,
        "settled_on": now().date().isoformat(),
        "transaction_count": len(transactions),
        "net_amount": total,
        "sales_count": len(transactions),
        "sales_amount": total,
        "refund_count": 0,
        "refund_amount": "0.00",
        "transactions": transactions,
        "fetched_at": at,
    }


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits: JSON allows them, orjson does not write them
        return json.dumps(value, separators=(",", ":")).encode()
