"""Settlement reconciliation: the decision (batch + what Salesforce and Sage Pro hold -> report),
the journal entry and Settlement__c it writes, and the batch as the source publishes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agents.settlement_source import SettlementWatermark, to_settlement, window_start
from connectors.paytrace.models import ExportedBatch
from schemas.settlement import SettledTransaction, SettlementBatch
from stream.mapping import Mapping, load_mapping
from stream.reconcile import MismatchKind, Outcome, reconcile
from stream.settlement_outputs import settlement_journal_entry, settlement_record

MAPPING = load_mapping()
ACCOUNTS = MAPPING.sagepro.settlement
AT = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)


def tx(tx_id: str, amount: str, kind: str = "SALE") -> SettledTransaction:
    return SettledTransaction(
        transaction_id=tx_id, transaction_type=kind, amount=Decimal(amount), created_at=AT
    )


def batch(
    *transactions: SettledTransaction, net: Decimal | None = None, count: int | None = None
) -> SettlementBatch:
    total = sum((t.signed_amount for t in transactions), Decimal("0"))
    sales = [t for t in transactions if not t.is_refund]
    refunds = [t for t in transactions if t.is_refund]
    return SettlementBatch(
        batch_number=7,
        settled_at=AT,
        settled_on=date(2026, 11, 22),
        transaction_count=len(transactions) if count is None else count,
        net_amount=total if net is None else net,
        sales_count=len(sales),
        sales_amount=sum((t.amount for t in sales), Decimal("0")),
        refund_count=len(refunds),
        refund_amount=sum((t.amount for t in refunds), Decimal("0")),
        transactions=list(transactions),
        fetched_at=AT,
    )


def held(b: SettlementBatch) -> tuple[dict[str, Decimal | None], dict[str, Decimal]]:
    """What the systems hold when every payment was delivered: Payment__c amounts positive,
    Sage Pro's signed (refunds negative)."""
    return (
        {t.transaction_id: t.amount for t in b.transactions},
        {t.transaction_id: t.signed_amount for t in b.transactions},
    )


def test_every_transaction_in_both_systems_reconciles() -> None:
    b = batch(tx("1", "20.00"), tx("2", "35.50", "AUTHORIZATION"), tx("3", "5.00", "REFUND"))
    report = reconcile(b, *held(b))
    assert report.outcome is Outcome.RECONCILED
    assert (report.matched, report.mismatched, report.mismatches) == (3, 0, ())
    assert report.transactions_total == report.net_amount == Decimal("50.50")
    assert report.reason() == ""


def test_a_missing_payment_and_a_different_amount_are_mismatches() -> None:
    b = batch(tx("1", "20.00"), tx("2", "35.50"), tx("3", "5.00", "REFUND"), tx("4", "9.99"))
    salesforce, sagepro = held(b)
    del salesforce["1"]
    del sagepro["2"]
    sagepro["3"] = Decimal("5.00")  # a refund posted as money in
    salesforce["4"] = Decimal("9.90")
    report = reconcile(b, salesforce, sagepro)
    assert report.outcome is Outcome.MISMATCH
    assert report.totals_add_up
    assert report.matched == 0 and report.mismatched == 4
    assert report.by_kind == {
        MismatchKind.MISSING_IN_SALESFORCE: 1,
        MismatchKind.MISSING_IN_SAGEPRO: 1,
        MismatchKind.AMOUNT_DIFFERS: 2,
    }
    reason = report.reason()
    assert "1: not in salesforce" in reason and "2: not in sagepro" in reason
    assert "3: sagepro has 5.00, batch -5.00" in reason


def test_missing_in_both_systems_is_one_mismatched_transaction() -> None:
    b = batch(tx("1", "20.00"), tx("2", "1.00"))
    report = reconcile(b, {"2": Decimal("1")}, {"2": Decimal("1.00")})
    assert report.mismatched == 1 and report.matched == 1
    assert len(report.mismatches) == 2


def test_no_amount_field_in_salesforce_checks_presence_only() -> None:
    b = batch(tx("1", "20.00"))
    assert reconcile(b, {"1": None}, {"1": Decimal("20")}).outcome is Outcome.RECONCILED


def test_totals_that_do_not_add_up_post_no_journal_entry() -> None:
    b = batch(tx("1", "20.00"), tx("2", "30.00"), net=Decimal("60.00"))
    report = reconcile(b, *held(b))
    assert report.outcome is Outcome.TOTALS_DIFFER
    assert "sum to 50.00, batch net amount is 60.00" in report.reason()
    assert settlement_journal_entry(b, report, ACCOUNTS) is None


def test_a_transaction_count_that_differs_is_a_totals_problem() -> None:
    b = batch(tx("1", "20.00"), count=2)
    report = reconcile(b, *held(b))
    assert report.outcome is Outcome.TOTALS_DIFFER
    assert "1 transactions listed, batch says 2" in report.reason()


def test_journal_entry_moves_the_net_from_clearing_to_bank() -> None:
    b = batch(tx("1", "20.00"), tx("2", "5.00", "REFUND"))
    entry = settlement_journal_entry(b, reconcile(b, *held(b)), ACCOUNTS)
    assert entry is not None
    assert entry.reference == "PAYTRACE-BATCH-7"
    assert entry.entry_date == date(2026, 11, 22)
    lines = [(line.gl_account_id, line.debit, line.credit) for line in entry.lines]
    assert lines == [("1000", Decimal("15.00"), Decimal("0")), ("1010", 0, Decimal("15.00"))]


def test_a_batch_of_mostly_refunds_moves_money_back_and_an_empty_one_posts_nothing() -> None:
    b = batch(tx("1", "5.00"), tx("2", "25.00", "REFUND"))
    entry = settlement_journal_entry(b, reconcile(b, *held(b)), ACCOUNTS)
    assert entry is not None
    assert [(x.gl_account_id, x.debit, x.credit) for x in entry.lines] == [
        ("1010", Decimal("20.00"), 0),
        ("1000", 0, Decimal("20.00")),
    ]
    even = batch(tx("1", "5.00"), tx("2", "5.00", "REFUND"))
    assert settlement_journal_entry(even, reconcile(even, *held(even)), ACCOUNTS) is None


def test_a_mismatch_still_posts_the_journal_entry() -> None:
    b = batch(tx("1", "20.00"))
    report = reconcile(b, {}, {})
    assert report.outcome is Outcome.MISMATCH
    assert settlement_journal_entry(b, report, ACCOUNTS) is not None


money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2)
transactions = st.lists(
    st.tuples(money, st.sampled_from(["SALE", "AUTHORIZATION", "REFUND"])), max_size=40
)


@given(items=transactions)
def test_any_complete_batch_reconciles_and_its_entry_balances_to_the_net(
    items: list[tuple[Decimal, str]],
) -> None:
    b = batch(*(tx(str(i), str(amount), kind) for i, (amount, kind) in enumerate(items)))
    report = reconcile(b, *held(b))
    assert report.outcome is Outcome.RECONCILED
    assert report.matched == len(items)
    entry = settlement_journal_entry(b, report, ACCOUNTS)
    if b.net_amount == 0:
        assert entry is None
        return
    assert entry is not None
    debits = sum((line.debit for line in entry.lines), Decimal("0"))
    credits = sum((line.credit for line in entry.lines), Decimal("0"))
    assert debits == credits == abs(b.net_amount)
    bank = next(line for line in entry.lines if line.gl_account_id == ACCOUNTS.bank)
    assert bank.debit - bank.credit == b.net_amount  # money into the bank is the net


@given(items=transactions.filter(bool), off=money, up=st.booleans())
def test_any_net_amount_other_than_the_sum_is_caught(
    items: list[tuple[Decimal, str]], off: Decimal, up: bool
) -> None:
    b = batch(*(tx(str(i), str(amount), kind) for i, (amount, kind) in enumerate(items)))
    wrong = batch(*b.transactions, net=b.net_amount + (off if up else -off))
    report = reconcile(wrong, *held(wrong))
    assert report.outcome is Outcome.TOTALS_DIFFER
    assert settlement_journal_entry(wrong, report, ACCOUNTS) is None


def test_settlement_record_carries_counts_amounts_and_status() -> None:
    b = batch(tx("1", "20.00"), tx("2", "30.00"))
    report = reconcile(b, {"1": Decimal("20")}, {"1": Decimal("20"), "2": Decimal("30")})
    record = settlement_record(b, report, "PAYTRACE-BATCH-7", AT, MAPPING)
    assert record["Status__c"] == "Mismatch"
    assert record["SettledDate__c"] == "2026-11-22"
    assert (record["TransactionCount__c"], record["NetAmount__c"]) == (2, 50.0)
    assert (record["MatchedCount__c"], record["MismatchedCount__c"]) == (1, 1)
    assert record["MissingInSalesforce__c"] == 1 and record["MissingInSagePro__c"] == 0
    assert record["JournalEntryReference__c"] == "PAYTRACE-BATCH-7"
    assert "2: not in salesforce" in record["StatusReason__c"]
    assert record["ReconciledAt__c"] == "2026-11-22T18:00:00.000Z"
    assert "BatchNumber__c" not in record  # the external id travels in the URL
    clean = settlement_record(b, reconcile(b, *held(b)), None, AT, MAPPING)
    assert clean["Status__c"] == "Reconciled" and clean["StatusReason__c"] is None


def _mapping_with(**sagepro: Any) -> dict[str, Any]:
    data = MAPPING.model_dump(mode="json")
    data["sagepro"].update(sagepro)
    return data


def test_the_clearing_account_must_be_where_card_payments_are_posted() -> None:
    with pytest.raises(ValidationError, match="must be the account card payments are posted"):
        Mapping.model_validate(_mapping_with(settlement={"bank": "1000", "clearing": "1200"}))
    with pytest.raises(ValidationError, match="must differ"):
        Mapping.model_validate(_mapping_with(settlement={"bank": "1010", "clearing": "1010"}))
    assert Mapping.model_validate(_mapping_with()).sagepro.settlement.clearing == "1010"


def _export(zone: str) -> ExportedBatch:
    record = {
        "batch_number": 3,
        "settled": "11/22/2026 11:30:00 PM",
        "transaction_count": 2,
        "net_amount": "15.00",
        "sales_count": 1,
        "sales_amount": "20.00",
        "refund_count": 1,
        "refund_amount": "5.00",
        "transactions": [
            {
                "transaction_id": 100000001,
                "transaction_type": "SALE",
                "status": "APPROVED",
                "amount": "20.00",
                "invoice_id": "INV-1",
                "credit_card": {"masked_number": "411111xxxxxx1111"},
                "created": {"at": "11/22/2026 10:00:00 AM"},
                "settled": "11/22/2026 11:30:00 PM",
            },
            {
                "transaction_id": 100000002,
                "transaction_type": "REFUND",
                "amount": "5.00",
                "created": {"at": "11/22/2026 10:05:00 AM"},
            },
        ],
    }
    return ExportedBatch.model_validate(record, context={"tz": ZoneInfo(zone)})


def test_the_published_batch_has_utc_times_the_local_day_and_no_card_number() -> None:
    zone = ZoneInfo("America/Los_Angeles")
    published = to_settlement(_export("America/Los_Angeles"), zone, AT)
    assert published.settled_on == date(2026, 11, 22)  # local day; in UTC it is the 23rd
    assert published.settled_at == datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    assert published.transactions[0].created_at == datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
    assert published.transactions[0].last_four == "1111"
    assert published.transactions[1].signed_amount == Decimal("-5.00")
    wire = published.model_dump_json()
    assert "411111" not in wire and "masked" not in wire
    assert SettlementBatch.model_validate_json(wire) == published


def test_the_window_starts_at_the_watermark_day_minus_the_overlap() -> None:
    today = date(2026, 11, 22)
    assert window_start(today, None, lookback_days=1, overlap_days=1) == date(2026, 11, 21)
    mark = SettlementWatermark(polled_through=AT, settled_through=date(2026, 11, 20))
    assert window_start(today, mark, lookback_days=1, overlap_days=1) == date(2026, 11, 19)
    old = SettlementWatermark(polled_through=AT, settled_through=today - timedelta(days=400))
    assert window_start(today, old, 1, 1) == today - timedelta(days=31)
