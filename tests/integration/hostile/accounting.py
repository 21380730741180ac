"""Matching every hostile record to what the pipeline did with it.

- ``dead_letter``: a dead letter names the record's topic, partition and offset, with a reason;
- ``delivered``: a payment record whose transaction id is in Salesforce and Sage Pro;
- ``ignored`` (by design, and nothing else): a raw record repeating a state of a transaction
  already delivered (the poll overlap does this); a Salesforce change that is no charge trigger
  (not Closed Won set by this change, not an Order CREATE) or that our own client made; any
  record on the dead-letter topic itself (the monitor only counts);
- ``refused``: a charge trigger or command whose command key ended in the charge ledger in a
  state that charged nothing (FAILED, NO_PAYMENT_METHOD or a newer refusal state) with a
  detail, or whose command was dead-lettered;
- ``processed``: a settlement batch reconciled into a ``Settlement__c`` record;
anything else is ``silently_dropped``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.pci import redact_text
from tests.integration.hostile.records import Hostile

NOT_REFUSALS = {"DONE", "PENDING", "DECLINED"}  # DECLINED: a sale was attempted


def _json(value: bytes | None) -> Any:
    try:
        return orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None


@dataclass
class Seen:
    dead: dict[tuple[str, Any, Any], list[str]] = field(default_factory=dict)
    dead_command_keys: set[str] = field(default_factory=set)
    dead_keys: set[tuple[str, str]] = field(default_factory=set)  # (source topic, key)
    salesforce: set[str] = field(default_factory=set)
    sagepro: set[str] = field(default_factory=set)
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    settlements: set[str] = field(default_factory=set)

    def add_dead_letters(self, records: list[Any], commands_topic: str) -> None:
        for _, value, *_ in records:
            letter = _json(value)
            if not isinstance(letter, dict) or "source_topic" not in letter:
                continue  # one of ours, produced onto the dead-letter topic itself
            where = (
                letter["source_topic"],
                letter.get("source_partition"),
                letter.get("source_offset"),
            )
            self.dead.setdefault(where, []).append(str(letter.get("reason") or ""))
            if letter.get("key"):
                self.dead_keys.add((letter["source_topic"], str(letter["key"])))
            if letter["source_topic"] == commands_topic and letter.get("key"):
                self.dead_command_keys.add(letter["key"])

    def add_ledger(self, records: list[Any]) -> None:
        for key, value, *_ in records:
            entry = _json(value)
            if isinstance(entry, str):  # a JSON string holding the entry's JSON
                entry = _json(entry.encode())
            if key is not None and isinstance(entry, dict):
                self.ledger[key.decode("utf-8", "replace").strip('"')] = entry

    def delivered(self, transaction_id: Any) -> bool:
        text = str(transaction_id)
        return text in self.salesforce and text in self.sagepro

    def refused(self, command_key: str) -> bool:
        # A key holding a card number is stored redacted, as it must be.
        return self._refused(command_key) or self._refused(redact_text(command_key))

    def _refused(self, command_key: str) -> bool:
        if command_key in self.dead_command_keys:
            return True
        entry = self.ledger.get(command_key)
        if entry is None:
            return False
        return entry.get("state") not in NOT_REFUSALS and bool(entry.get("detail"))


def fires(change: dict[str, Any]) -> list[str]:
    """Command keys the default mapping's triggers make of this change (none: no trigger)."""
    origin = str(change.get("change_origin") or "")
    if "client=paystream" in origin.replace(" ", ""):
        return []
    entity, kind = change.get("entity"), change.get("change_type")
    # Hostile changes carry any JSON in these fields: what is not the right shape fires nothing.
    values = change.get("values")
    values = values if isinstance(values, dict) else {}
    changed = change.get("changed_fields")
    changed = changed if isinstance(changed, list) else []
    record_ids = change.get("record_ids")
    ids = [str(r) for r in record_ids] if isinstance(record_ids, list) else []
    if entity == "Opportunity" and kind in ("CREATE", "UPDATE"):
        if values.get("StageName") == "Closed Won" and (kind == "CREATE" or "StageName" in changed):
            return [f"Opportunity:{r}:closed_won" for r in ids]
    if entity == "Order" and kind == "CREATE":
        return [f"Order:{r}:order_created" for r in ids]
    return []


def outcome(
    h: Hostile, topic: str, seen: Seen, valid_states: set[bytes | None], payments_topic: str
) -> str | None:
    reasons = seen.dead.get((topic, h.partition, h.offset))
    if reasons and all(reasons):
        return "dead_letter"
    value = _json(h.value)
    if h.topic == "deadletter":
        return "ignored"
    if h.topic == "paytrace_raw" and isinstance(value, dict):
        record = value.get("record")
        tid = record.get("transaction_id") if isinstance(record, dict) else None
        if h.value in valid_states and seen.delivered(tid):
            return "ignored"
        if tid is not None and seen.delivered(tid):
            return "delivered"
        if tid is not None and (payments_topic, str(tid)) in seen.dead_keys:
            return "dead_letter"  # its payment, parked by a sink
    if h.topic == "payments" and isinstance(value, dict):
        if seen.delivered(value.get("transaction_id")):
            return "delivered"
    if h.topic == "salesforce_cdc" and isinstance(value, dict):
        keys = fires(value)
        if not keys:
            return "ignored"
        if all(seen.refused(k) for k in keys):
            return "refused"
    if h.topic == "charge_commands" and isinstance(value, dict):
        if seen.refused(str(value.get("key"))):
            return "refused"
    if h.topic == "paytrace_settlements" and isinstance(value, dict):
        if str(value.get("batch_number")) in seen.settlements:
            return "processed"
    return None


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def add(self, h: Hostile, result: str | None) -> None:
        where = f"{h.topic}[{h.partition}]@{h.offset} {h.cls}"
        if result is None:
            self.outcomes["silently_dropped"] += 1
            self.dropped.append(where)
        else:
            self.outcomes[result] += 1
            if result not in h.accepts:
                shown = redact_text((h.value or b"")[:160].decode("utf-8", "replace"))
                expected = sorted(h.accepts)
                self.unexpected.append(f"{where}: {result}, expected one of {expected}: {shown}")

    def by_class(self, records: list[Hostile], results: list[str | None]) -> dict[str, Counter]:
        table: dict[str, Counter[str]] = {}
        for h, result in zip(records, results, strict=True):
            table.setdefault(f"{h.topic}/{h.cls}", Counter())[result or "silently_dropped"] += 1
        return table
