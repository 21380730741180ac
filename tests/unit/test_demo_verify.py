"""The demo's independent expectations, and how read-back records are scored against them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.paytrace.models import ExportedTransaction
from connectors.sagepro.models import JournalEntry, JournalLine
from connectors.sagepro.models import Payment as SagePayment
from schemas.raw import RawPayTraceTransaction
from stream.demo.verify import Comparison, Expected, compare
from stream.mapping import load_mapping
from stream.to_sagepro import plan
from stream.to_salesforce import payment_record
from stream.transform import to_payment

ZONE = "America/Los_Angeles"
MAPPING = load_mapping()
SETTLED = "7/5/2024 2:00:00 AM"


def export(
    transaction_id: int,
    kind: str = "SALE",
    status: str = "APPROVED",
    settled: str = "",
    invoice_id: str = "INV-1",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "transaction_type": kind,
        "status": status,
        "amount": "50.00",
        "invoice_id": invoice_id,
        "credit_card": {"masked_number": "************1111"},
        "created": {"at": "7/4/2024 9:15:00 AM"},
        "settled": settled,
        **extra,
    }


def tx(transaction_id: int, *args: Any, **changes: Any) -> ExportedTransaction:
    return ExportedTransaction.model_validate(
        export(transaction_id, *args, **changes), context={"tz": ZoneInfo(ZONE)}
    )


# Every state the emulator produces: (type, status, settled) -> (Salesforce, Sage Pro by ref).
CASES: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("SALE", "APPROVED", "", "Completed", {"1": "Paid"}),
    ("SALE", "APPROVED", SETTLED, "Settled", {"1": "Paid"}),
    ("SALE", "DECLINED", "", "Failed", {"1": "Failed"}),
    ("SALE", "AUTO_VOIDED", "", "Failed", {"1": "Failed"}),
    ("SALE", "VOIDED", "", "Voided", {"1": "Paid", "1-VOID": "Voided"}),
    ("AUTHORIZATION", "AUTHORIZED", "", "Authorized", {}),
    ("AUTHORIZATION", "CAPTURED", "", "Completed", {"1": "Paid"}),
    ("AUTHORIZATION", "CAPTURED", SETTLED, "Settled", {"1": "Paid"}),
    ("AUTHORIZATION", "VOIDED", "", "Voided", {}),
    ("AUTHORIZATION", "DECLINED", "", "Failed", {"1": "Failed"}),
    ("REFUND", "APPROVED", "", "Refunded", {"1": "Refunded"}),
    ("REFUND", "APPROVED", SETTLED, "Refunded", {"1": "Refunded"}),
]


@pytest.mark.parametrize(("kind", "status", "settled", "salesforce", "sagepro"), CASES)
def test_expectations_per_emulator_state(
    kind: str, status: str, settled: str, salesforce: str, sagepro: dict[str, str]
) -> None:
    expected = Expected.of([tx(1, kind, status, settled)], invoices={"INV-1"})
    assert expected.salesforce == {"1": salesforce}
    assert expected.sagepro == sagepro
    assert expected.kinds == Counter({f"{kind}/{status}": 1})


def test_payments_without_an_existing_invoice_are_expected_on_account() -> None:
    expected = Expected.of(
        [tx(1), tx(2, invoice_id="INV-404"), tx(3, status="VOIDED", invoice_id="")],
        invoices={"INV-1"},
    )
    assert expected.sagepro == {"1": "Paid", "2": "OnAccount", "3": "OnAccount", "3-VOID": "Voided"}


@pytest.mark.parametrize(("kind", "status", "settled", "salesforce", "sagepro"), CASES)
def test_expectations_agree_with_the_pipeline(
    kind: str, status: str, settled: str, salesforce: str, sagepro: dict[str, str]
) -> None:
    """Written independently of the pipeline: the two must still tell the same story."""
    raw = RawPayTraceTransaction(
        fetched_at=datetime.now(UTC),
        merchant_timezone=ZONE,
        record=export(1, kind, status, settled, original_transaction_id=None),
    )
    payment = to_payment(raw, MAPPING)
    assert payment_record(payment, MAPPING)["Status__c"] == salesforce
    postings = plan(payment, MAPPING, customer_id="C-1", invoice_id="INV-1")
    assert {p.payment.payment_reference: str(p.payment.payment_status) for p in postings} == (
        sagepro
    )


def sf(transaction_id: str, status: str) -> dict[str, Any]:
    return {"PaymentID__c": transaction_id, "Status__c": status, "Amount__c": 50.0}


def sage(reference: str, status: str, *, needs_review: bool = False) -> SagePayment:
    negative = status in ("Refunded", "Voided")
    return SagePayment.model_validate(
        {
            "PaymentReference": reference,
            "PaymentDate": "2024-07-04",
            "Amount": "-50.00" if negative else "50.00",
            "CustomerID": "C-1",
            "PaymentStatus": status,
            "NeedsReview": needs_review,
        }
    )


def journal(reference: str) -> JournalEntry:
    return JournalEntry(
        reference=reference,
        entry_date=date(2024, 7, 4),
        lines=[
            JournalLine(gl_account_id="1010", debit=Decimal("50.00")),
            JournalLine(gl_account_id="1200", credit=Decimal("50.00")),
        ],
    )


def scenario() -> Expected:
    return Expected.of(
        [
            tx(1),  # sale, invoice exists
            tx(2, status="DECLINED"),
            tx(3, "REFUND", original_transaction_id=1),
            tx(4, status="VOIDED", invoice_id="INV-404"),
            tx(5, "AUTHORIZATION", "AUTHORIZED"),
        ],
        invoices={"INV-1"},
    )


def test_everything_in_place() -> None:
    result = compare(
        scenario(),
        [
            sf("1", "Completed"),
            sf("2", "Failed"),
            sf("3", "Refunded"),
            sf("4", "Voided"),
            sf("5", "Authorized"),
        ],
        [
            sage("1", "Paid"),
            sage("2", "Failed"),
            sage("3", "Refunded"),
            sage("4", "OnAccount", needs_review=True),
            sage("4-VOID", "Voided", needs_review=True),
        ],
        [journal("1"), journal("3"), journal("4"), journal("4-VOID")],
    )
    assert result == Comparison(
        salesforce_missing=[],
        salesforce_wrong=[],
        salesforce_duplicates=0,
        salesforce_unexpected=0,
        sagepro_missing=[],
        sagepro_wrong=[],
        sagepro_duplicates=0,
        sagepro_unexpected=0,
        journal_missing=[],
        journal_duplicates=0,
        salesforce_matched=5,
        sagepro_matched=5,
        sagepro_needs_review=2,
    )
    assert result.missing == 0 and result.duplicates == 0
    assert result.sample() == {}


def test_gaps_wrong_statuses_duplicates_and_strays_are_counted() -> None:
    result = compare(
        scenario(),
        [
            sf("1", "Completed"),
            sf("1", "Completed"),  # the same payment upserted as a second record
            sf("2", "Completed"),  # a decline shown as paid
            sf("4", "Voided"),
            sf("5", "Authorized"),
            sf("9", "Completed"),  # nothing in PayTrace made this
        ],
        [
            sage("1", "Paid"),
            sage("1", "Paid"),
            sage("1", "Paid"),
            sage("2", "Failed"),
            sage("3", "Paid"),  # refund recorded as money in
            sage("4", "OnAccount"),
            sage("8", "Paid"),
            sage("9", "Paid"),
        ],
        [journal("1"), journal("1"), journal("2"), journal("4")],
    )
    assert result.salesforce_missing == ["3"]
    assert result.salesforce_wrong == ["2"]
    assert result.salesforce_duplicates == 1
    assert result.salesforce_unexpected == 1
    assert result.sagepro_missing == ["4-VOID"]
    assert result.sagepro_wrong == ["3"]
    assert result.sagepro_duplicates == 2
    assert result.sagepro_unexpected == 2
    # Declines move no money: no journal entry expected for "2" (its stray one is not counted).
    assert sorted(result.journal_missing) == ["3", "4-VOID"]
    assert result.journal_duplicates == 1
    assert result.salesforce_matched == 3
    assert result.sagepro_matched == 3
    assert result.sagepro_needs_review == 0
    assert result.missing == 1 + 1 + 1 + 1 + 2
    assert result.duplicates == 1 + 2 + 1 + 1 + 2
    sample = result.sample(size=1)
    journal_sample = sample.pop("journal_missing")
    assert len(journal_sample) == 1 and journal_sample[0] in {"3", "4-VOID"}
    assert sample == {
        "salesforce_missing": ["3"],
        "salesforce_wrong_status": ["2"],
        "sagepro_missing": ["4-VOID"],
        "sagepro_wrong_status": ["3"],
    }


def test_nothing_read_back() -> None:
    result = compare(scenario(), [], [], [])
    assert result.salesforce_missing == ["1", "2", "3", "4", "5"]
    assert result.sagepro_missing == ["1", "2", "3", "4", "4-VOID"]
    assert sorted(result.journal_missing) == ["1", "3", "4", "4-VOID"]
    assert result.missing == 5 + 5 + 4
    assert result.duplicates == 0
    assert result.salesforce_matched == result.sagepro_matched == 0


@given(
    st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=30, unique=True),
    st.lists(st.integers(min_value=0, max_value=3), min_size=30, max_size=30),
    st.lists(st.integers(min_value=1, max_value=40), max_size=5, unique=True),
)
def test_counts_follow_what_was_read_back(
    ids: list[int], copies: list[int], strays: list[int]
) -> None:
    expected = Expected.of([tx(i) for i in ids], invoices={"INV-1"})
    records = [sf(str(i), "Completed") for i in ids for _ in range(copies[i - 1])]
    stray_ids = [s for s in strays if s not in ids]
    records += [sf(str(100 + s), "Completed") for s in stray_ids]
    payments = [sage(str(i), "Paid") for i in ids for _ in range(copies[i - 1])]
    entries = [journal(str(i)) for i in ids for _ in range(copies[i - 1])]
    result = compare(expected, records, payments, entries)
    absent = sorted(str(i) for i in ids if copies[i - 1] == 0)
    extra = sum(max(copies[i - 1] - 1, 0) for i in ids)
    assert sorted(result.salesforce_missing) == sorted(result.sagepro_missing) == absent
    assert sorted(result.journal_missing) == absent
    assert result.salesforce_duplicates == result.sagepro_duplicates == extra
    assert result.journal_duplicates == extra
    assert result.salesforce_unexpected == len(stray_ids)
    assert result.salesforce_matched == result.sagepro_matched == len(ids) - len(absent)
    assert result.missing == 3 * len(absent)
    assert result.duplicates == 3 * extra + len(stray_ids)
