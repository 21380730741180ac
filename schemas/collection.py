"""Records of Salesforce-triggered collection: CDC changes, charge commands, ledger entries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class SalesforceChange(BaseModel):
    """One Change Data Capture event (or a resync stand-in), keyed by record id on Kafka."""

    source: Literal["cdc", "resync"] = "cdc"
    topic: str
    entity: str
    change_type: str
    record_ids: list[str]
    changed_fields: list[str] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    commit_timestamp: int = 0  # epoch ms
    transaction_key: str = ""
    change_origin: str = ""
    replay_id: str = ""  # hex; empty for resync records
    event_id: str = ""
    created_in_window: bool = False  # resync only: the record was created since the gap began


class ChargeCommand(BaseModel):
    """Charge the Account's vaulted card for a record, once per ``key``."""

    key: str  # <object>:<record id>:<trigger>: from the business event, never delivery data
    # "Subscription": a recurring period, keyed sub:<id>:<period>[:try<n>] (stream/billing/)
    object: Literal["Opportunity", "Order", "Subscription"]
    record_id: str
    trigger: str
    requested_at: datetime


class LedgerState(StrEnum):
    PENDING = "PENDING"  # about to charge, or charged with the answer lost
    DONE = "DONE"
    DECLINED = "DECLINED"
    NO_PAYMENT_METHOD = "NO_PAYMENT_METHOD"
    FAILED = "FAILED"  # could not charge (e.g. no amount); not retried automatically


class LedgerEntry(BaseModel):
    key: str
    state: LedgerState
    transaction_id: int | None = None
    amount: str | None = None
    detail: str = ""
    written_back: bool = False  # Salesforce and Sage Pro told of the outcome
    updated_at: datetime

    @property
    def final(self) -> bool:
        return self.state is not LedgerState.PENDING
