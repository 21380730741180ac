"""Change Data Capture events for writes made through the REST API.

Every create/update/delete/undelete of a tracked object stores one event with a real
``ChangeEventHeader`` and a monotonically increasing replay id; serving them over the
Pub/Sub API is a separate concern that only reads ``change_events``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from connectors.salesforce.emulator.store import SalesforceStore

CDC_ENTITIES = frozenset({"Account", "Opportunity", "Order", "Subscription__c"})
_COMMIT_NUMBER_BASE = 11_930_000_000_000  # real commit numbers are large, increasing integers


def change_origin(api_version: str, client: str | None) -> str:
    """``com/salesforce/api/rest/62.0;client=<id>``; no client part when the caller set none."""
    origin = f"com/salesforce/api/rest/{api_version.lstrip('v')}"
    return f"{origin};client={client}" if client else origin


@dataclass
class ChangeTransaction:
    """One API call = one transaction: events share key, commit number and timestamp."""

    origin: str
    commit_user: str
    transaction_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    commit_timestamp: int = field(default_factory=lambda: int(time.time() * 1000))
    commit_number: int | None = None
    sequence: int = 0


async def record_change(
    store: SalesforceStore,
    txn: ChangeTransaction,
    *,
    entity: str,
    change_type: str,
    record_id: str,
    values: dict[str, Any],
    changed_fields: list[str] | None = None,
    retention_hours: float = 72,
) -> int | None:
    """Store the change event; returns its replay id (None for untracked objects)."""
    if entity not in CDC_ENTITIES:
        return None
    if txn.commit_number is None:
        txn.commit_number = _COMMIT_NUMBER_BASE + await store.next_value("commit_number")
    txn.sequence += 1
    nulled = [name for name, value in values.items() if value is None]
    header = {
        "entityName": entity,
        "recordIds": [record_id],
        "changeType": change_type,
        "changeOrigin": txn.origin,
        "transactionKey": txn.transaction_key,
        "sequenceNumber": txn.sequence,
        "commitTimestamp": txn.commit_timestamp,
        "commitNumber": txn.commit_number,
        "commitUser": txn.commit_user,
        "nulledFields": nulled if change_type == "UPDATE" else [],
        "diffFields": [],
        "changedFields": changed_fields or [],
    }
    body = {k: v for k, v in values.items() if v is not None and k != "Id"}
    payload = {"ChangeEventHeader": header, **body}
    replay_id = await store.add_change_event(
        entity, change_type, txn.commit_timestamp, txn.transaction_key, payload
    )
    await store.prune_change_events(txn.commit_timestamp - int(retention_hours * 3_600_000))
    return replay_id
