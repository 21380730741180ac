"""Disputes end to end on the real broker, emulators over HTTP and a real `paystream worker`:
two sales flow in; their disputes go through every stage (each notification three times);
Salesforce has one Case per dispute and the payment's status, Sage Pro the credit memo and the
balanced journal entries; a dispute of a payment never seen is dead-lettered; the report import
sends what is good, reports the rest, and a second import changes nothing."""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.sagepro.models import Customer, Invoice
from schemas.dispute import Dispute, DisputeStage
from stream.dispute_intake import DisputePublisher
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration
VISA = "4111111111111111"


def dispute(case: str, transaction: str, stage: DisputeStage, amount: str) -> Dispute:
    return Dispute(
        case_id=case,
        transaction_id=transaction,
        amount=Decimal(amount),
        currency="USD",
        reason_code="10.4",
        reason="Other fraud",
        stage=stage,
        due_date=date(2030, 1, 15),
        received_at=datetime(2029, 12, 20, tzinfo=UTC),
        source="push:test",
    )


async def cases(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    body = await pipeline.control("salesforce", "records/Case")
    return {r["Dispute_Case_Id__c"]: r for r in body["records"] if r.get("Dispute_Case_Id__c")}


async def balances(pipeline: Pipeline) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    async with pipeline.sagepro() as sage:
        for entry in await sage.list_journal_entries():
            debits = sum(line.debit for line in entry.lines)
            assert debits == sum(line.credit for line in entry.lines), entry.reference
            for line in entry.lines:
                totals[line.gl_account_id] += line.debit - line.credit
    return {k: v for k, v in totals.items() if v}


async def test_disputes_through_every_stage(pipeline: Pipeline, tmp_path: Path) -> None:
    async with pipeline.sagepro() as sage:
        await sage.create_customer(Customer(customer_id="C-D", name="Dispute Co"))
        for invoice in ("INV-D1", "INV-D2"):
            await sage.create_invoice(
                Invoice(
                    invoice_id=invoice,
                    customer_id="C-D",
                    invoice_date=date(2029, 12, 1),
                    total_amount=Decimal("100.00"),
                )
            )
    async with pipeline.paytrace() as paytrace:
        won = await paytrace.sale_keyed(Decimal("100.00"), VISA, 12, 2030, invoice_id="INV-D1")
        lost = await paytrace.sale_keyed(Decimal("100.00"), VISA, 12, 2030, invoice_id="INV-D2")
    won_id, lost_id = str(won.transaction_id), str(lost.transaction_id)
    pipeline.start_worker()

    async def sales_in() -> bool:
        async with pipeline.sagepro() as sage:
            # The sale's journal entry follows its payment: both in before the ledger's "before".
            found = [await sage.get_payment(t) for t in (won_id, lost_id)]
            found += [await sage.get_journal_entry(t) for t in (won_id, lost_id)]
        records = {r["PaymentID__c"] for r in await pipeline.payment_records()}
        return all(found) and {won_id, lost_id} <= records

    await wait_for(sales_in, "the two sales in Salesforce and Sage Pro", 60)
    before = await balances(pipeline)

    publisher = DisputePublisher(pipeline.kafka, pipeline.bootstrap)
    await publisher.start()
    try:
        for stage in (DisputeStage.RETRIEVAL_REQUEST, DisputeStage.CHARGEBACK):
            for _ in range(3):
                await publisher.publish(dispute("CB-W", won_id, stage, "100.00"))
                await publisher.publish(dispute("CB-L", lost_id, stage, "40.00"))

        async def charged_back() -> bool:
            found = await cases(pipeline)
            return all(
                found.get(c, {}).get("Dispute_Stage__c") == "chargeback" for c in ("CB-W", "CB-L")
            )

        await wait_for(charged_back, "both Cases at chargeback", 60)
        async with pipeline.sagepro() as sage:
            memos = {m.reference: m for m in await sage.list_credit_memos()}
            invoice = await sage.get_invoice("INV-D2")
        assert memos["DSP-CB-W-CB"].amount == Decimal("100.00")
        assert memos["DSP-CB-L-CB"].invoice_id == "INV-D2"
        assert invoice is not None and invoice.balance_due == Decimal("0.00")
        payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
        assert payments[won_id]["Status__c"] == "Chargeback"

        for stage, case, tx, amount in (
            (DisputeStage.REPRESENTMENT, "CB-W", won_id, "100.00"),
            (DisputeStage.WON, "CB-W", won_id, "100.00"),
            (DisputeStage.LOST, "CB-L", lost_id, "40.00"),
        ):
            for _ in range(3):
                await publisher.publish(dispute(case, tx, stage, amount))
        await publisher.publish(dispute("CB-X", "999999", DisputeStage.CHARGEBACK, "5.00"))
    finally:
        await publisher.stop()

    async def decided() -> bool:
        found = await cases(pipeline)
        return (
            found.get("CB-W", {}).get("Dispute_Stage__c"),
            found.get("CB-L", {}).get("Dispute_Stage__c"),
        ) == ("won", "lost")

    await wait_for(decided, "won and lost on the Cases", 60)

    async def unknown_dead_lettered() -> bool:
        reasons = [h.get("paystream-reason") for _, _, h in await pipeline.dead_letters()]
        return reasons.count(b"dispute_payment_unknown") == 2

    await wait_for(unknown_dead_lettered, "the unknown payment's dispute dead-lettered", 60)
    found = await cases(pipeline)
    assert len(found) == 2 and found["CB-W"]["Status"] == "Closed"
    assert (
        found["CB-L"]["Priority"] == "High" and found["CB-L"]["Dispute_Due_Date__c"] == "2030-01-15"
    )
    payments = {r["PaymentID__c"]: r for r in await pipeline.payment_records()}
    assert payments[won_id]["Status__c"] == "Settled"
    assert payments[lost_id]["Status__c"] == "Chargeback"
    assert found["CB-W"]["Payment__c"] == payments[won_id]["Id"]

    async def ledger_settled() -> bool:
        after = await balances(pipeline)
        moved = {k: after.get(k, Decimal(0)) - before.get(k, Decimal(0)) for k in after}
        # won: the money came back (nothing moved); lost: 40.00 left clearing for losses
        return {k: v for k, v in moved.items() if v} == {
            "1010": Decimal("-40.00"),
            "4900": Decimal("40.00"),
        }

    await wait_for(ledger_settled, "the ledger after won and lost", 30)

    # The report import: good, duplicated and bad rows; imported twice, nothing changes. The
    # import cannot know PayTrace's transactions: a row for one never seen is sent, and the
    # dispute sinks dead-letter it with its reason (re-driven once the payment is in).
    report = tmp_path / "disputes.csv"
    report.write_text(
        "case_id,transaction_id,amount,currency,reason_code,reason,stage,received_date,due_date\n"
        f"CB-L,{lost_id},40.00,USD,10.4,Other fraud,lost,2029-12-20,2030-01-15\n"
        f"CB-L,{lost_id},40.00,USD,10.4,Other fraud,lost,2029-12-20,2030-01-15\n"
        f"CB-B,{lost_id},forty,USD,10.4,x,chargeback,2029-12-20,\n"
        f"CB-C,{lost_id},4.00,USD,10.4,x,chargeback,2029-12-32,\n"
        f"CB-D,{lost_id},4.00,USD\n"
        "CB-U,999998,4.00,USD,13.1,x,chargeback,2029-12-20,\n"
    )
    env = {**pipeline.env(), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream.cli",
            "disputes",
            "import",
            str(report),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 60)
        stdout = out.decode()
        assert run.returncode == 1, err.decode()
        assert "rows accepted 2, sent 2, duplicates 1, rejected 3" in stdout
        assert "line 4: bad_amount" in stdout and "line 5: bad_date" in stdout
        assert "line 6: missing_column" in stdout
    ledger = await balances(pipeline)
    await wait_for(lambda: _stable(pipeline, ledger), "the import changed nothing", 30)

    async def unknown_row_dead_lettered() -> bool:
        keys = [
            k
            for k, _, h in await pipeline.dead_letters()
            if h.get("paystream-reason") == b"dispute_payment_unknown"
        ]
        return keys.count(b"999998") == 4  # two imports, two sinks

    await wait_for(unknown_row_dead_lettered, "the unknown transaction's row dead-lettered", 60)
    assert "CB-U" not in await cases(pipeline)


async def _stable(pipeline: Pipeline, ledger: dict[str, Decimal]) -> bool:
    found = await cases(pipeline)
    return await balances(pipeline) == ledger and len(found) == 2
