"""Which of many invoices and customers exist, in one call per hundred: the repeated filter of
our contract (connectors/sagepro/README.md, "Lists"), client and emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from connectors.base.emulator import EmulatorServer
from connectors.sagepro.client import IDS_PER_CALL, SageProRestClient
from connectors.sagepro.models import Customer, Invoice
from tests.integration.sagepro.support import DAY, KEY

pytestmark = pytest.mark.integration


@pytest.fixture
async def raw(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.base_url, headers={"X-Api-Key": KEY}) as http:
        yield http


async def _calls_to(raw: httpx.AsyncClient, collection: str) -> list[str]:
    log = (await raw.get("/_emulator/requests")).json()["requests"]
    return [r["raw_path"] for r in log if r["raw_path"].startswith(collection)]


async def test_customers_and_invoices_by_id_name_only_those_that_exist(
    sage: SageProRestClient, raw: httpx.AsyncClient
) -> None:
    for n in (1, 2):
        await sage.create_customer(Customer(customer_id=f"C {n}/x", name=f"Customer {n}"))
    await sage.create_invoice(
        Invoice(invoice_id="INV&1", customer_id="C 1/x", invoice_date=DAY, total_amount=Decimal(5))
    )
    await raw.delete("/_emulator/requests")

    customers = await sage.customers_by_id(["C 1/x", "C 2/x", "C 3/x", "C 1/x"])
    invoices = await sage.invoices_by_id({"INV&1", "INV&2"})

    assert sorted(customers) == ["C 1/x", "C 2/x"]  # odd characters travel as one value
    assert invoices["INV&1"].customer_id == "C 1/x" and list(invoices) == ["INV&1"]
    assert len(await _calls_to(raw, "/api/customers")) == 1
    assert len(await _calls_to(raw, "/api/invoices")) == 1
    assert await sage.customers_by_id([]) == {}  # nothing to ask: no call


async def test_more_ids_than_a_call_takes_are_asked_in_chunks(
    sage: SageProRestClient, raw: httpx.AsyncClient
) -> None:
    wanted = [f"C-{n}" for n in range(IDS_PER_CALL + 50)]
    for customer_id in wanted[::10]:
        await sage.create_customer(Customer(customer_id=customer_id, name=customer_id))
    await raw.delete("/_emulator/requests")
    found = await sage.customers_by_id(wanted)
    assert sorted(found) == sorted(wanted[::10])
    assert len(await _calls_to(raw, "/api/customers")) == 2


async def test_a_filter_repeated_past_the_limit_is_refused(raw: httpx.AsyncClient) -> None:
    params = [("CustomerID", f"C-{n}") for n in range(IDS_PER_CALL + 1)]
    answer = await raw.get("/api/customers", params=params)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    one = await raw.get("/api/customers", params=params[:1])
    assert one.status_code == 200 and one.json()["total"] == 0
