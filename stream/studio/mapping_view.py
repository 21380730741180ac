"""The mapping as tables for the page: PayTrace field -> canonical -> Salesforce / Sage Pro,
status maps, GL rules, triggers and custom fields. Each editable cell carries the key path
``yaml_edit`` changes in the file.
"""

from __future__ import annotations

from typing import Any

from stream.mapping import Mapping

# Where the normalizer (stream/transform.py to_payment) reads each canonical value in a
# PayTrace export record; references and custom values come from the mapping's own rules.
PAYTRACE_SOURCE = {
    "transaction_id": "transaction_id",
    "type": "transaction_type (via types)",
    "status": "status, transaction_type, settled (via statuses)",
    "amount": "amount",
    "currency": "(the mapping's currency)",
    "occurred_at": "created.at (merchant time zone)",
    "occurred_on": "created.at (date)",
    "settled_at": "settled",
    "card_type": "credit_card.masked_number (leading digits)",
    "last_four": "credit_card.masked_number (last four)",
    "customer_vault_id": "customer_id",
    "original_transaction_id": "original_transaction_id",
    "approval_code": "approval_code",
    "description": "description",
    "avs_response": "avs_response",
    "csc_response": "csc_response",
    "approval_message": "approval_message",
    "local_hour": "created.at (hour)",
}


# What the Sage Pro sink fills from the canonical payment (stream/to_sagepro.py plan): fixed
# by the accounting, not by the mapping, shown so the whole path is on one page.
SAGEPRO_FIELDS = (
    ("transaction_id", "PaymentReference (and the journal entry's Reference)"),
    ("occurred_at (date)", "PaymentDate, EntryDate"),
    ("amount", "Amount (negative for refunds and voids)"),
    ("references.erp_invoice_id", "InvoiceID (when Sage Pro has the invoice)"),
    ("references.erp_customer_id", "CustomerID (else the invoice's, else unmatched_customer_id)"),
    ("status", "PaymentStatus (via sagepro.payment_status)"),
    ("type", "GLAccountID and journal lines (via sagepro.gl_accounts)"),
)


def paytrace_source(mapping: Mapping, path: str) -> str:
    if path.startswith("references."):
        target = path.removeprefix("references.")
        fields = sorted({r.field for r in mapping.correlation if r.target == target})
        return ", ".join(fields) + " (via correlation)" if fields else "(no correlation rule)"
    if path.startswith("custom."):
        rule = mapping.custom_fields.get(path.removeprefix("custom."))
        return f"{rule.field} ~ {rule.pattern}" if rule else "(unknown custom field)"
    return PAYTRACE_SOURCE.get(path, path)


def _triggers(mapping: Mapping) -> list[dict[str, Any]]:
    rows = [
        {
            "kind": "charge",
            "object": t.object,
            "name": t.name,
            "when": "/".join(t.change_types) + (f" with {t.field} = {t.value}" if t.field else ""),
            "amount": mapping.collection.amount_fields.get(t.object, ""),
        }
        for t in mapping.collection.triggers
    ]
    subscriptions = getattr(mapping, "subscriptions", None)  # recurring billing, when present
    if subscriptions is not None:
        fields = subscriptions.fields
        rows.append(
            {
                "kind": "subscription",
                "object": subscriptions.object,
                "name": "scheduled period",
                "when": f"{fields.next_charge_date} reached while {fields.status} is "
                f"{subscriptions.statuses['active']}; retries after "
                f"{', '.join(map(str, subscriptions.dunning_days))} days",
                "amount": fields.amount,
            }
        )
    disputes = mapping.sagepro.disputes
    for stage, debit, credit in (
        ("chargeback", disputes.receivable, disputes.clearing),
        ("won / reversed", disputes.clearing, disputes.receivable),
        ("lost", disputes.losses, disputes.receivable),
    ):
        rows.append(
            {
                "kind": "dispute",
                "object": "Case + journal entry",
                "name": stage,
                "when": f"Dr {debit} / Cr {credit}",
                "amount": "disputed amount",
            }
        )
    return rows


def tables(mapping: Mapping) -> dict[str, Any]:
    sf, sage = mapping.salesforce, mapping.sagepro
    return {
        "fields": [
            {
                "paytrace": paytrace_source(mapping, path),
                "canonical": path,
                "salesforce": name,
                "path": ["salesforce", "fields", name],
            }
            for name, path in sf.fields.items()
        ],
        "statuses": [
            {
                "canonical": str(status),
                "salesforce": sf.status.get(status, ""),
                "sagepro": sage.payment_status.get(status, ""),
                "sf_path": ["salesforce", "status", str(status)],
                "sage_path": ["sagepro", "payment_status", str(status)],
            }
            for status in sf.status
        ],
        "status_rules": [
            {
                "type": r.transaction_type,
                "status": r.status,
                "settled": "" if r.settled is None else str(r.settled).lower(),
                "canonical": str(r.canonical),
            }
            for r in mapping.statuses
        ],
        "gl": [
            {
                "type": kind,
                "debit": rule.debit,
                "credit": rule.credit,
                "path": ["sagepro", "gl_accounts", kind],
            }
            for kind, rule in sage.gl_accounts.items()
        ],
        "triggers": _triggers(mapping),
        "custom_in": [
            {"name": name, "field": rule.field, "pattern": rule.pattern}
            for name, rule in mapping.custom_fields.items()
        ],
        "custom_out": [{"field": k, "template": v} for k, v in mapping.to_paytrace.items()],
        "sagepro_fields": [
            {
                "paytrace": paytrace_source(mapping, path.split(" ")[0]),
                "canonical": path,
                "sagepro": f,
            }
            for path, f in SAGEPRO_FIELDS
        ],
        "object": sf.object,
        "external_id": sf.external_id_field,
    }
