"""Salesforce-triggered collection end to end: CDC over real gRPC, the charge agent on the
real broker, PayTrace/Salesforce/Sage Pro emulators over real HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration

GOOD_CARD = "4111111111111111"
DECLINE_CARD = "4000000000000002"


async def paytrace_sales(pipeline: Pipeline, invoice_id: str) -> list[Any]:
    today = date.today()
    async with pipeline.paytrace() as paytrace:
        found = await paytrace.export_by_date_range(
            today - timedelta(days=1), today + timedelta(days=1), invoice_id=invoice_id
        )
    return [t for t in found if str(t.transaction_type) == "SALE"]


async def setup_account(pipeline: Pipeline, vault_id: str | None, card: str = GOOD_CARD) -> str:
    async with pipeline.salesforce() as salesforce:
        fields: dict[str, Any] = {"Name": f"Account {vault_id}"}
        if vault_id:
            fields["CustomerVaultID__c"] = vault_id
        account = await salesforce.create("Account", fields)
    if vault_id:
        async with pipeline.paytrace() as paytrace:
            await paytrace.create_customer(vault_id, card, 12, date.today().year + 2)
    return account


async def open_opportunity(pipeline: Pipeline, account: str, amount: str) -> str:
    async with pipeline.salesforce() as salesforce:
        return await salesforce.create(
            "Opportunity",
            {
                "Name": "Deal",
                "AccountId": account,
                "StageName": "Negotiation/Review",
                "CloseDate": date.today().isoformat(),
                "Amount": float(amount),
            },
        )


async def close_won(pipeline: Pipeline, opportunity: str) -> None:
    async with pipeline.salesforce() as salesforce:
        await salesforce.update("Opportunity", opportunity, {"StageName": "Closed Won"})


async def field_is(pipeline: Pipeline, obj: str, record: str, field: str, value: str) -> bool:
    async with pipeline.salesforce() as salesforce:
        found = await salesforce.get(obj, record)
    return (found or {}).get(field) == value


async def test_closed_won_and_new_order_charge_once_and_outcomes_are_written(
    pipeline: Pipeline,
) -> None:
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    pipeline.start_worker()
    account = await setup_account(pipeline, "VAULT-1")
    opportunity = await open_opportunity(pipeline, account, "250.00")
    await close_won(pipeline, opportunity)
    async with pipeline.salesforce() as salesforce:
        order = await salesforce.create(
            "Order",
            {
                "AccountId": account,
                "EffectiveDate": date.today().isoformat(),
                "Status": "Draft",
                "Amount__c": "99.50",
            },
        )

    await wait_for(
        lambda: field_is(pipeline, "Opportunity", opportunity, "PaymentStatus__c", "Paid"),
        "the Opportunity marked Paid",
        90,
    )
    await wait_for(
        lambda: field_is(pipeline, "Order", order, "PaymentStatus__c", "Paid"),
        "the Order marked Paid",
        60,
    )
    sales = await paytrace_sales(pipeline, opportunity)
    assert len(sales) == 1 and sales[0].amount == Decimal("250.00")
    assert len(await paytrace_sales(pipeline, order)) == 1
    async with pipeline.salesforce() as salesforce:
        opp = await salesforce.get("Opportunity", opportunity)
    assert opp is not None and opp["PaymentTransactionID__c"] == str(sales[0].transaction_id)

    # The sale flows through the pipeline: Payment__c linked to the Opportunity, and the
    # Sage Pro invoice created for it is paid.
    async def payment_linked() -> bool:
        records = await pipeline.payment_records()
        return any(r.get("Opportunity__c") == opportunity for r in records)

    await wait_for(payment_linked, "Payment__c linked to the Opportunity", 60)

    async def invoice_paid() -> bool:
        async with pipeline.sagepro() as sage:
            invoice = await sage.get_invoice(opportunity)
        return invoice is not None and str(invoice.status) == "Paid"

    await wait_for(invoice_paid, "the ERP invoice paid", 60)

    # Our own write-backs are changes too: none of them may charge again.
    await close_won(pipeline, opportunity)  # a no-op update by someone else: not a new trigger
    async with pipeline.salesforce() as salesforce:
        await salesforce.update("Opportunity", opportunity, {"Description": "edited later"})
    await wait_for(lambda: _settled(pipeline), "the pipeline to go quiet", 120)
    assert len(await paytrace_sales(pipeline, opportunity)) == 1
    assert not await pipeline.dead_letters()


async def _settled(pipeline: Pipeline) -> bool:
    import asyncio

    await asyncio.sleep(6)
    return True


async def test_decline_and_missing_payment_method(pipeline: Pipeline) -> None:
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    pipeline.start_worker()
    declining = await setup_account(pipeline, "VAULT-DECLINE", DECLINE_CARD)
    no_vault = await setup_account(pipeline, None)
    declined_opp = await open_opportunity(pipeline, declining, "80.00")
    no_method_opp = await open_opportunity(pipeline, no_vault, "60.00")
    await close_won(pipeline, declined_opp)
    await close_won(pipeline, no_method_opp)

    await wait_for(
        lambda: field_is(pipeline, "Opportunity", declined_opp, "PaymentStatus__c", "Declined"),
        "the decline recorded",
        90,
    )
    await wait_for(
        lambda: field_is(
            pipeline, "Opportunity", no_method_opp, "PaymentStatus__c", "Payment method required"
        ),
        "payment method required recorded",
        60,
    )
    async with pipeline.salesforce() as salesforce:
        tasks = await salesforce.query("SELECT Id, Subject, WhatId FROM Task")
        cases = await salesforce.query("SELECT Id, Subject, AccountId FROM Case")
    assert {t["WhatId"] for t in tasks} == {declined_opp, no_method_opp}
    assert [c["AccountId"] for c in cases] == [declining]
    assert len(await paytrace_sales(pipeline, declined_opp)) == 1  # one attempt, no retry
    assert await paytrace_sales(pipeline, no_method_opp) == []

    async def payment_failed() -> bool:
        records = await pipeline.payment_records()
        return any(
            r.get("Opportunity__c") == declined_opp and r.get("Status__c") == "Failed"
            for r in records
        )

    await wait_for(payment_failed, "Payment__c Failed for the decline", 60)
