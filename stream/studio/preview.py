"""What a worker would produce from one sample record, computed by the flows' own functions.

- a PayTrace export record: ``stream.transform.to_payment`` (the normalizer), then
  ``stream.to_salesforce.payment_record`` (the Salesforce sink's upsert) and
  ``stream.to_sagepro.plan`` / ``journal_entry`` (the Sage Pro sink's postings);
- a Salesforce change event: the charge trigger's ``commands_for`` and the charge agent's
  ``confirmed_rule`` / ``confirm_current`` checks;
- a dispute: the dispute sinks' ``case_fields``, ``reference`` and ``entry_for``.

Nothing here reimplements a rule. Where a flow would ask an external system (does Sage Pro hold
the invoice? which Payment__c is disputed?) the preview states what it assumed instead.
Every error is reported with the stage (flow) where a worker would raise it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from agents.charge_trigger import ChargeRefused, commands_for, confirm_current, confirmed_rule
from agents.charge_trigger import ChargeTrigger as ChargeTriggerFlow
from agents.dispute_sagepro import SUFFIX, SageProDisputeSink, entry_for, reference
from agents.dispute_salesforce import SalesforceDisputeSink, case_fields
from agents.normalizer import PaymentNormalizer
from agents.sagepro_sink import SageProPaymentSink
from connectors.salesforce.ids import is_valid_id
from connectors.salesforce.pubsub.events import origin_client
from schemas.collection import SalesforceChange
from schemas.dispute import Dispute, DisputeStage
from schemas.payment import PaymentStatus
from schemas.raw import RawPayTraceTransaction
from stream.mapping import Mapping
from stream.mapping_version import mapping_version
from stream.runtime.outcomes import Rejected
from stream.to_sagepro import journal_entry, plan
from stream.to_salesforce import payment_record
from stream.topology import flow_named
from stream.transform import InvalidRecord, to_payment

SAMPLES = Path(__file__).with_name("samples")
# The flows whose functions each preview calls: errors name where a worker would raise them.
NORMALIZER = flow_named(PaymentNormalizer)
TRIGGER = flow_named(ChargeTriggerFlow)
SAGE_SINK = flow_named(SageProPaymentSink)
DISPUTE_SINKS = f"{flow_named(SalesforceDisputeSink)}, {flow_named(SageProDisputeSink)}"
KINDS = ("paytrace", "cdc", "dispute")


def samples() -> list[dict[str, Any]]:
    """The shipped samples: name, kind (from the file name) and the record."""
    out = []
    for path in sorted(SAMPLES.glob("*.json")):
        kind = path.stem.split("_", 1)[0]
        out.append({"name": path.stem, "kind": kind, "record": orjson.loads(path.read_bytes())})
    return out


def _json(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value, default=str))


def _error(stage: str, reason: str, detail: str) -> dict[str, Any]:
    return {"ok": False, "stage": stage, "reason": reason, "detail": detail}


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors()[:5])


def preview(kind: str, record: Any, mapping: Mapping, timezone: str = "UTC") -> dict[str, Any]:
    result: dict[str, Any] = {"kind": kind, "mapping_version": mapping_version(mapping)}
    if kind == "paytrace":
        result.update(_payment(record, mapping, timezone))
    elif kind == "cdc":
        result.update(_change(record, mapping))
    elif kind == "dispute":
        result.update(_dispute(record, mapping))
    else:
        result.update(_error("studio", "unknown_kind", f"kind must be one of {', '.join(KINDS)}"))
    return result


def _payment(record: Any, mapping: Mapping, timezone: str) -> dict[str, Any]:
    if isinstance(record, dict) and "record" in record and "fetched_at" in record:
        wrapped = record  # a whole raw-topic value
    else:
        wrapped = {"fetched_at": datetime.now(UTC), "merchant_timezone": timezone, "record": record}
    try:
        raw = RawPayTraceTransaction.model_validate(wrapped)
    except ValidationError as exc:
        return _error(NORMALIZER, "schema", _short(exc))
    try:
        payment = to_payment(raw, mapping)
    except InvalidRecord as exc:
        return _error(NORMALIZER, exc.reason, exc.detail)
    except ValueError as exc:
        return _error(NORMALIZER, "malformed", str(exc))
    out: dict[str, Any] = {"ok": True, "payment": _json(payment.model_dump(mode="json"))}
    out["salesforce"] = {
        "object": mapping.salesforce.object,
        "record": _json(payment_record(payment, mapping)),
    }
    # The Sage Pro sink looks the invoice and customer up; the preview assumes both exist.
    invoice = payment.references.erp_invoice_id
    customer = payment.references.erp_customer_id or mapping.sagepro.unmatched_customer_id
    unapplied = mapping.sagepro.gl_accounts["on_account"].credit
    try:
        postings = plan(payment, mapping, customer_id=customer, invoice_id=invoice)
    except Rejected as exc:
        out["sagepro"] = _error(SAGE_SINK, exc.reason, exc.detail)
        return out
    sage = []
    for posting in postings:
        # As Sage Pro would store it: applied to the invoice, or all on account without one.
        amount = abs(posting.payment.amount)
        applied = amount if posting.payment.invoice_id else Decimal(0)
        stored = posting.payment.model_copy(
            update={"applied_amount": applied, "unapplied_amount": amount - applied}
        )
        entry = journal_entry(stored, posting.rule, unapplied) if posting.rule else None
        sage.append(
            {
                "payment": _json(posting.payment.model_dump(mode="json", exclude_none=True)),
                "journal_entry": _json(entry.model_dump(mode="json")) if entry else None,
            }
        )
    out["sagepro"] = {
        "ok": True,
        "postings": sage,
        "assumed": f"invoice {invoice or '(none)'} and customer {customer} exist in Sage Pro",
    }
    return out


def _change(record: Any, mapping: Mapping) -> dict[str, Any]:
    try:
        change = SalesforceChange.model_validate(record)
    except ValidationError as exc:
        return _error(TRIGGER, "schema", _short(exc))
    collection = mapping.collection
    if origin_client(change.change_origin) == collection.own_client:
        return _error(TRIGGER, "own_write", "our own write-back never triggers a charge")
    if any(not is_valid_id(rid) for rid in change.record_ids):
        return _error(TRIGGER, "invalid_record_id", "a record id is no Salesforce id")
    commands = commands_for(change, collection.triggers)
    if not commands:
        return _error(TRIGGER, "no_trigger", "no charge trigger of the mapping fires")
    checked = []
    for command in commands:
        entry: dict[str, Any] = {"command": _json(command.model_dump(mode="json"))}
        try:
            rule = confirmed_rule(command, command.key.encode(), collection)
            # The agent re-reads the record from Salesforce; the event's values stand in.
            confirm_current(rule, change.values, collection)
            entry["check"] = "ok against the event's values (the agent re-reads Salesforce)"
        except ChargeRefused as exc:
            entry["check"] = f"{exc.reason}: {exc.detail}"
        checked.append(entry)
    return {"ok": True, "charge_commands": checked}


def _dispute(record: Any, mapping: Mapping) -> dict[str, Any]:
    try:
        dispute = Dispute.model_validate(record)
    except ValidationError as exc:
        return _error(DISPUTE_SINKS, "schema", _short(exc))
    sf = mapping.salesforce
    # The Salesforce sink finds the disputed Payment__c by its external id; assumed found.
    payment = {"Id": f"<{sf.object} with {sf.external_id_field}={dispute.transaction_id}>"}
    out: dict[str, Any] = {"ok": True, "salesforce": {"Case": _json(case_fields(dispute, payment))}}
    if dispute.stage in (DisputeStage.CHARGEBACK, DisputeStage.LOST):
        out["salesforce"]["payment_status"] = sf.status.get(PaymentStatus.CHARGEBACK)
    elif dispute.stage in (DisputeStage.WON, DisputeStage.REVERSED):
        out["salesforce"]["payment_status"] = sf.status.get(PaymentStatus.SETTLED)
    accounts = mapping.sagepro.disputes
    prefix = accounts.reference_prefix
    entries = []
    if dispute.stage in SUFFIX:
        chargeback = DisputeStage.CHARGEBACK
        entries.append(
            entry_for(dispute, chargeback, accounts.receivable, accounts.clearing, prefix)
        )
        if dispute.stage is DisputeStage.LOST:
            entries.append(
                entry_for(dispute, dispute.stage, accounts.losses, accounts.receivable, prefix)
            )
        elif dispute.stage is not chargeback:
            entries.append(
                entry_for(dispute, dispute.stage, accounts.clearing, accounts.receivable, prefix)
            )
    out["sagepro"] = {
        "ok": True,
        "credit_memo_reference": reference(prefix, dispute, DisputeStage.CHARGEBACK)
        if dispute.stage in SUFFIX
        else None,
        "journal_entries": [_json(e.model_dump(mode="json")) for e in entries],
    }
    return out
