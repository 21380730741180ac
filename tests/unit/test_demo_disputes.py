"""The demo's disputes: which payments it disputes, and how what Salesforce and Sage Pro hold
afterwards is scored (cases, credit memos, journal entries, the ledger across sale, chargeback
and outcome)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.paytrace.models import ExportedTransaction
from connectors.sagepro.models import CreditMemo, JournalEntry, JournalLine
from connectors.sagepro.models import Payment as SagePayment
from stream.demo.disputes import (
    DemoCase,
    disputable,
    dispute_result,
    plan_cases,
    report_csv,
)
from stream.disputes_import import row_dispute
from stream.mapping import load_mapping

MAPPING = load_mapping()
TODAY = date(2026, 11, 29)
SETTLED = "11/28/2026 11:00:00 PM"


def tx(number: int, **changes: Any) -> ExportedTransaction:
    fields: dict[str, Any] = {
        "transaction_id": number,
        "transaction_type": "SALE",
        "status": "APPROVED",
        "amount": "80.00",
        "invoice_id": f"INV-{number}",
        "created": {"at": "11/28/2026 9:15:00 AM"},
        "settled": SETTLED,
        **changes,
    }
    return ExportedTransaction.model_validate(fields, context={"tz": ZoneInfo("UTC")})


def sage_payment(number: int, applied: str = "80.00", invoice: str | None = None) -> SagePayment:
    return SagePayment(
        payment_reference=str(number),
        payment_date=TODAY,
        amount=Decimal("80.00"),
        customer_id="C-1",
        invoice_id=invoice if invoice is not None else f"INV-{number}",
        applied_amount=Decimal(applied),
    )


def test_only_settled_sales_paid_on_an_invoice_and_not_refunded_or_voided_are_disputed() -> None:
    transactions = [
        tx(1),
        tx(2, settled=""),  # not settled yet
        tx(3, status="VOIDED"),
        tx(4),  # refunded below
        tx(5, transaction_type="REFUND", original_transaction_id=4),
        tx(6),  # on account: no invoice in Sage Pro
        tx(7),  # partly applied
        tx(8, status="DECLINED"),
        tx(9),
    ]
    payments = {str(n): sage_payment(n) for n in (1, 2, 3, 4, 8, 9)}
    payments["6"] = sage_payment(6, invoice="")
    payments["7"] = sage_payment(7, applied="40.00")
    assert [t.transaction_id for t in disputable(transactions, payments)] == [1, 9]


def test_four_cases_across_both_paths_and_every_outcome() -> None:
    cases = plan_cases([tx(n) for n in (11, 12, 13, 14, 15)], TODAY)
    assert [(c.case_id, c.path, c.outcome) for c in cases] == [
        ("DEMO-CB-1", "push", "won"),
        ("DEMO-CB-2", "push", "lost"),
        ("DEMO-CB-3", "import", "chargeback"),
        ("DEMO-CB-4", "import", "lost"),
    ]
    assert cases[3].amount == Decimal("40.00") and cases[2].due == date(2026, 12, 1)
    # the report is one the real import reads: every row a dispute, header included
    lines = report_csv(cases[2:], TODAY).splitlines()
    header = lines[0].split(",")
    rows = [row_dispute(dict(zip(header, line.split(","), strict=True))) for line in lines[1:]]
    assert [(d.case_id, d.stage.value) for d in rows] == [
        ("DEMO-CB-3", "chargeback"),
        ("DEMO-CB-4", "chargeback"),
        ("DEMO-CB-4", "lost"),
    ]


def entry(reference: str, debit: str, credit: str, amount: Decimal) -> JournalEntry:
    lines = [
        JournalLine(gl_account_id=debit, debit=amount),
        JournalLine(gl_account_id=credit, credit=amount),
    ]
    return JournalEntry(reference=reference, entry_date=TODAY, lines=lines)


def world(cases: list[DemoCase]) -> dict[str, Any]:
    """What Salesforce and Sage Pro hold when every stage took effect once, per the rules."""
    world: dict[str, Any] = {"cases": [], "payments": [], "memos": [], "entries": []}
    for case in cases:
        amount = case.amount
        world["cases"].append(
            {"Dispute_Case_Id__c": case.case_id, "Dispute_Stage__c": case.outcome}
        )
        status = "Settled" if case.outcome == "won" else "Chargeback"
        world["payments"].append({"PaymentID__c": case.transaction_id, "Status__c": status})
        world["memos"].append(
            CreditMemo(
                reference=f"DSP-{case.case_id}-CB",
                invoice_id=case.invoice_id,
                memo_date=TODAY,
                amount=amount,
            )
        )
        world["entries"] += [
            entry(case.transaction_id, "1010", "1200", Decimal("80.00")),  # the sale
            entry(f"DSP-{case.case_id}-CB", "1210", "1010", amount),
        ]
        if case.outcome == "won":
            world["entries"].append(entry(f"DSP-{case.case_id}-RETURNED", "1010", "1210", amount))
        elif case.outcome == "lost":
            world["entries"].append(entry(f"DSP-{case.case_id}-LOST", "4900", "1210", amount))
    return world


def score(cases: list[DemoCase], held: dict[str, Any], sent: int = 15) -> Any:
    return dispute_result(
        cases, sent, MAPPING, held["cases"], held["payments"], held["memos"], held["entries"]
    )


CASES = plan_cases([tx(n) for n in (21, 22, 23, 24)], TODAY)


def test_every_stage_applied_once_is_ok() -> None:
    result = score(CASES, world(CASES))
    assert result.ok, result.problems
    summary = result.summary()
    assert summary["dispute_cases"] == 4 and summary["disputes_sent"] == 15
    assert (summary["dispute_salesforce_cases"], summary["dispute_sagepro_credit_memos"]) == (4, 4)
    assert summary["dispute_journal_entries"] == 7  # 4 chargebacks, 1 returned, 2 lost
    assert summary["dispute_ledger_balanced"] is True


def _moved_back(held: dict[str, Any]) -> None:
    held["cases"][0]["Dispute_Stage__c"] = "chargeback"


def _payment_left_at_chargeback(held: dict[str, Any]) -> None:
    held["payments"][0]["Status__c"] = "Chargeback"


def _memo_twice(held: dict[str, Any]) -> None:
    held["memos"].append(held["memos"][1])


def _outcome_missing(held: dict[str, Any]) -> None:
    held["entries"] = [e for e in held["entries"] if not e.reference.endswith("-LOST")]


def _written_off_to_the_wrong_account(held: dict[str, Any]) -> None:
    held["entries"] = [
        entry(e.reference, "4000", "1210", e.lines[0].debit) if e.reference.endswith("-LOST") else e
        for e in held["entries"]
    ]


def _unbalanced_sale(held: dict[str, Any]) -> None:
    sale = held["entries"][0]
    held["entries"][0] = sale.model_copy(update={"lines": sale.lines[:1]})


@pytest.mark.parametrize(
    "damage",
    [
        _moved_back,
        _payment_left_at_chargeback,
        _memo_twice,
        _outcome_missing,
        _written_off_to_the_wrong_account,
        _unbalanced_sale,
    ],
)
def test_any_gap_is_not_ok(damage: Any) -> None:
    held = world(CASES)
    damage(held)
    assert not score(CASES, held).ok


def test_a_notification_not_acknowledged_is_not_ok() -> None:
    result = score(CASES, world(CASES), sent=14)
    assert not result.ok and result.problems == ["sent 14 of 15"]


def test_no_case_at_all_is_not_ok() -> None:
    assert not score([], world([]), sent=0).ok
