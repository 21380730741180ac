"""Sage Pro over real HTTP when things go wrong: auth, 5xx, 429, paging, restarts; and the
balance invariant under any sequence of payments, refunds and credit memos."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base.emulator import EmulatorServer
from connectors.base.errors import Action
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.emulator.app import EmulatorConfig, create_app
from connectors.sagepro.errors import SageProError
from connectors.sagepro.models import CreditMemo, Customer, Invoice, Payment, PaymentStatus
from connectors.sagepro.settings import SageProSettings
from stream.metrics import REGISTRY
from tests.integration.sagepro.support import DAY, FAST, KEY

pytestmark = pytest.mark.integration


async def _faults(emulator: EmulatorServer, **values: object) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        (await http.post("/_emulator/faults", json=values)).raise_for_status()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"system": "sagepro", **labels}) or 0.0


async def test_missing_or_wrong_key_is_fatal_and_not_retried(emulator: EmulatorServer) -> None:
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        response = await http.get("/api/customers")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    before = _metric("paystream_external_calls_total", endpoint="/api/glaccounts", outcome="fatal")
    settings_ = SageProSettings(base_url=emulator.base_url, api_key="wrong-key")
    async with SageProRestClient.from_settings(settings_, retry=FAST) as client:
        with pytest.raises(SageProError) as caught:
            await client.get_gl_accounts()
    error = caught.value
    assert (error.status, error.code, error.action) == (401, "UNAUTHORIZED", Action.FATAL)
    after = _metric("paystream_external_calls_total", endpoint="/api/glaccounts", outcome="fatal")
    assert after - before == 1  # one call: a key cannot be refreshed, so no second attempt
    assert "wrong-key" not in str(error)


async def test_server_errors_are_retried_then_succeed(
    sage: SageProRestClient, emulator: EmulatorServer
) -> None:
    await sage.create_customer(Customer(customer_id="C1", name="Acme"))
    await _faults(emulator, error_status=503, error_count=2, error_path_prefix="/api/payments")
    retries_before = _metric("paystream_external_retries_total", endpoint="/api/payments")
    payment = await sage.post_payment(
        Payment(
            payment_reference="T1",
            payment_date=DAY,
            amount=Decimal("5"),
            customer_id="C1",
            on_account=True,
        )
    )
    assert payment.unapplied_amount == Decimal("5.00")
    assert (
        _metric("paystream_external_retries_total", endpoint="/api/payments") - retries_before == 2
    )
    assert len(await sage.list_payments()) == 1  # posted once


async def test_server_errors_exhaust_retries(
    sage: SageProRestClient, emulator: EmulatorServer
) -> None:
    await _faults(emulator, error_status=500, error_count=10)
    with pytest.raises(SageProError) as caught:
        await sage.get_gl_accounts()
    assert caught.value.action is Action.RETRY and caught.value.code == "INTERNAL_ERROR"


async def test_rate_limit_honours_retry_after_then_succeeds(
    sage: SageProRestClient, emulator: EmulatorServer
) -> None:
    await _faults(emulator, error_status=429, error_count=1, retry_after=0.15)
    with pytest.raises(SageProError) as caught:
        await sage.request("GET", "/api/glaccounts", retry=False)
    assert caught.value.action is Action.RATE_LIMITED and caught.value.retry_after == 0.15

    await _faults(emulator, error_status=429, error_count=1, retry_after=0.15)
    throttled = _metric("paystream_external_throttled_total")
    started = asyncio.get_running_loop().time()
    accounts = await sage.get_gl_accounts()
    assert asyncio.get_running_loop().time() - started >= 0.14  # waited as told
    assert len(accounts) >= 8
    assert _metric("paystream_external_throttled_total") - throttled == 1


async def test_lists_page_through_everything(emulator: EmulatorServer) -> None:
    async with SageProRestClient(emulator.base_url, KEY, page_size=2, retry=FAST) as client:
        for n in range(5):
            await client.create_customer(Customer(customer_id=f"C{n}", name=f"N{n}"))
        assert [c.customer_id for c in await client.find_customers()] == [f"C{n}" for n in range(5)]
    async with httpx.AsyncClient(base_url=emulator.base_url, headers={"X-Api-Key": KEY}) as http:
        page = (await http.get("/api/customers", params={"limit": 2, "offset": 4})).json()
        assert (page["total"], len(page["items"])) == (5, 1)
        bad = await http.get("/api/customers", params={"limit": 0})
        assert bad.status_code == 422
        assert (await http.get("/api/payments", params={"FromDate": "May 1"})).status_code == 422


async def test_reset_and_state_controls(sage: SageProRestClient, emulator: EmulatorServer) -> None:
    await sage.create_customer(Customer(customer_id="C1", name="Acme"))
    async with httpx.AsyncClient(base_url=emulator.base_url) as http:
        state = (await http.get("/_emulator/state")).json()
        assert [c["CustomerID"] for c in state["customers"]] == ["C1"]
        assert len(state["gl_accounts"]) == 8 and state["payments"] == []
        (await http.post("/_emulator/reset")).raise_for_status()
        state = (await http.get("/_emulator/state")).json()
    assert state["customers"] == [] and len(state["gl_accounts"]) == 8
    assert await sage.get_customer("C1") is None


async def test_data_dir_survives_a_restart(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, data_dir=tmp_path)
    async with EmulatorServer(create_app(config)) as server:
        async with SageProRestClient(server.base_url, KEY, retry=FAST) as client:
            await client.create_customer(Customer(customer_id="C1", name="Acme"))
    assert (tmp_path / "sagepro.sqlite3").exists()
    async with EmulatorServer(create_app(config)) as server:
        async with SageProRestClient(server.base_url, KEY, retry=FAST) as client:
            customer = await client.get_customer("C1")
            assert customer is not None and customer.name == "Acme"
            assert len(await client.get_gl_accounts()) == 8  # chart seeded once, not twice


# Any sequence of payments (some overpaying, some on account), refunds and credit memos:
# every accepted or refused call leaves 0 <= balance and balance == invoiced - paid - credited.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 6000), st.booleans()),
        st.tuples(st.just("refund"), st.integers(1, 6000), st.integers(0, 50)),
        st.tuples(st.just("credit"), st.integers(1, 6000), st.just(0)),
    ),
    min_size=1,
    max_size=8,
)


async def _run_sequence(total: int, ops: list[tuple[str, int, object]]) -> None:
    async with EmulatorServer(create_app(EmulatorConfig(api_key=KEY))) as server:
        async with SageProRestClient(server.base_url, KEY, retry=FAST) as sage:
            await sage.create_customer(Customer(customer_id="C1", name="Acme"))
            await sage.create_invoice(
                Invoice(
                    invoice_id="I1",
                    customer_id="C1",
                    invoice_date=DAY,
                    total_amount=Decimal(total) / 100,
                )
            )
            posted: list[str] = []
            for n, (kind, cents, extra) in enumerate(ops):
                amount = Decimal(cents) / 100
                try:
                    if kind == "pay":
                        await sage.post_payment(
                            Payment(
                                payment_reference=f"P{n}",
                                payment_date=DAY,
                                amount=amount,
                                customer_id="C1",
                                invoice_id="I1",
                                on_account=bool(extra),
                            )
                        )
                        posted.append(f"P{n}")
                    elif kind == "refund" and posted:
                        await sage.post_payment(
                            Payment(
                                payment_reference=f"R{n}",
                                payment_date=DAY,
                                amount=-amount,
                                customer_id="C1",
                                payment_status=PaymentStatus.REFUNDED,
                                original_payment_reference=posted[int(str(extra)) % len(posted)],
                            )
                        )
                    elif kind == "credit":
                        await sage.post_credit_memo(
                            CreditMemo(
                                reference=f"M{n}", invoice_id="I1", memo_date=DAY, amount=amount
                            )
                        )
                except SageProError as exc:
                    assert exc.status == 422 and exc.action is Action.DEAD_LETTER
                invoice = await sage.get_invoice("I1")
                payments = await sage.list_payments(invoice_id="I1")
                memos = await sage.list_credit_memos(invoice_id="I1")
                assert invoice is not None and invoice.balance_due is not None
                paid = sum((p.applied_amount or Decimal(0) for p in payments), Decimal(0))
                credited = sum((m.amount for m in memos), Decimal(0))
                assert invoice.balance_due >= 0
                assert invoice.amount_paid == paid and invoice.amount_credited == credited
                assert invoice.balance_due == invoice.total_amount - paid - credited


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(total=st.integers(1, 5000), ops=steps)
def test_balances_never_go_negative_and_always_add_up(
    total: int, ops: list[tuple[str, int, object]]
) -> None:
    asyncio.run(_run_sequence(total, ops))
