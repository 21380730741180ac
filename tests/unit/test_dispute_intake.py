"""The ingress's checks and the report import, without a broker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.dispute import DisputeStage
from stream.dispute_intake import IntakeRefused, dispute_from
from stream.disputes_import import FileRefused, read_report, send_report
from stream.ingress_guard import Refusal, ReplayCache, SourceLimits, check_timestamp, sign, verify

SECRET = "s" * 20


def test_signature_verifies_with_any_current_secret() -> None:
    header = sign(SECRET, "1700000000", b"{}")
    assert header.startswith("v1=")
    assert verify(["other" * 4, SECRET], "1700000000", b"{}", header)
    assert verify([SECRET], "1700000000", b"{}", f"v1=dead, {header}")


@pytest.mark.parametrize(
    ("timestamp", "body", "header", "code"),
    [
        ("1700000000", b"{}", "", "unsigned"),
        ("1700000000", b"{}", "v0=abc", "unsigned"),
        ("1700000001", b"{}", sign(SECRET, "1700000000", b"{}"), "bad_signature"),
        ("1700000000", b"{ }", sign(SECRET, "1700000000", b"{}"), "bad_signature"),
    ],
)
def test_signature_refusals(timestamp: str, body: bytes, header: str, code: str) -> None:
    with pytest.raises(Refusal) as refused:
        verify([SECRET], timestamp, body, header)
    assert (refused.value.status, refused.value.code) == (401, code)


def test_timestamps() -> None:
    check_timestamp("1000", 300, now=1299)
    for value, code in (("1000", "stale"), ("abc", "bad_timestamp")):
        with pytest.raises(Refusal) as refused:
            check_timestamp(value, 300, now=1301)
        assert (refused.value.status, refused.value.code) == (401, code)


def test_replays_within_the_window_and_release_after_a_failed_send() -> None:
    now = [0.0]
    cache = ReplayCache(300, clock=lambda: now[0])
    cache.reserve("a")
    with pytest.raises(Refusal) as refused:
        cache.reserve("a")
    assert refused.value.status == 409
    cache.release("a")
    cache.reserve("a")  # a retry after a 503 is not a replay
    now[0] = 601
    cache.reserve("a")  # out of the window: the timestamp check refuses it anyway


async def test_rate_limit_per_source() -> None:
    limits = SourceLimits(rate=1, burst=2)
    await limits.take("a")
    await limits.take("a")
    with pytest.raises(Refusal) as refused:
        await limits.take("a")
    assert (refused.value.status, refused.value.retry_after) == (429, 1)
    await limits.take("b")


def test_intake_redacts_text_and_refuses_card_numbers_as_ids() -> None:
    fields = {
        "case_id": "CB-1",
        "transaction_id": 1000001,
        "amount": "10.00",
        "currency": "USD",
        "reason_code": "10.4",
        "reason": "cvv 123 on 4111-1111-1111-1111",
        "stage": "chargeback",
    }
    dispute = dispute_from(fields, source="push:paytrace")
    assert "4111" not in dispute.reason and dispute.reason.endswith("1111")
    assert dispute.transaction_id == "1000001"
    with pytest.raises(IntakeRefused) as refused:
        dispute_from({**fields, "case_id": "4111111111111111"}, source="import")
    assert refused.value.reason == "card_number_in_id"


REPORT = """case_id,transaction_id,amount,currency,reason_code,reason,stage,received_date,due_date
CB-1,1000001,110.00,USD,10.4,Fraud,chargeback,2026-11-02,2026-11-20
CB-1,1000001,110.00,USD,10.4,Fraud,chargeback,2026-11-02,2026-11-20
CB-1,1000001,110.00,USD,10.4,Fraud,won,2026-11-25,
CB-2,1000002,ten,USD,13.1,Not received,chargeback,2026-11-02,2026-11-20
CB-3,1000003,5.00,USD,13.1,Not received,chargeback,2026-13-02,2026-11-20
CB-4,1000004,5.00,USD,13.1
CB-5,1000005,5.001,USD,13.1,x,chargeback,2026-11-02,
CB-6,1000006,5.00,USD,13.1,x,appealed,2026-11-02,
CB-7,1000007,7.00,USD,13.1,x,retrieval_request,2026-11-02,2026-11-09
"""


def test_report_rows_good_duplicated_and_bad(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text(REPORT)
    report = read_report(path)
    assert [(d.case_id, d.stage) for d in report.accepted] == [
        ("CB-1", DisputeStage.CHARGEBACK),
        ("CB-1", DisputeStage.WON),
        ("CB-7", DisputeStage.RETRIEVAL_REQUEST),
    ]
    assert report.accepted[0].amount == Decimal("110.00") and report.accepted[0].source == "import"
    assert report.duplicates == [(3, "CB-1:chargeback")]
    assert [(r.line, r.reason) for r in report.rejected] == [
        (5, "bad_amount"),
        (6, "bad_date"),
        (7, "missing_column"),
        (8, "bad_amount"),
        (9, "schema"),
    ]
    text = "\n".join(report.lines())
    assert "rows accepted 3, sent 0, duplicates 1, rejected 5" in text


def test_a_report_without_a_required_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("case_id,amount\nCB-1,1.00\n")
    with pytest.raises(FileRefused, match="transaction_id"):
        read_report(path)


async def test_send_report_counts(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text(REPORT)
    report = read_report(path)
    sent: list[str] = []

    class Publisher:
        async def publish(self, dispute: object) -> None:
            sent.append(dispute.idempotency_key)  # type: ignore[attr-defined]

    await send_report(report, Publisher())
    assert report.sent == 3 and sent[0] == "CB-1:chargeback"
