"""Pushed payment events and a dispute that came too early, on the real broker, the emulators
and a real worker and `paystream ingress`.

While the worker's PayTrace poll fails (an export outage injected in the emulator), a sale
pushed to ``POST /v1/payments`` becomes its ``Payment__c`` on its own; a forged and a malformed
push write nothing. A dispute for a second sale the pipeline has not seen is dead-lettered by
both dispute sinks. Once polling works again the poller publishes both sales as well: the pushed
one is still one payment, and ``paystream replay deadletters`` re-drives the dispute, which then
takes effect once in Salesforce and Sage Pro."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from stream.topics import read_all
from tests.integration.dispute_helpers import IngressProcess, notification, signed
from tests.integration.harness import Pipeline, wait_for

pytestmark = pytest.mark.integration
VISA = "4111111111111111"
POLL_PATH = "/v1/transactions/export/by_date_range"


async def raw_records(pipeline: Pipeline) -> list[tuple[bytes | None, dict[str, bytes]]]:
    found = await read_all(pipeline.kafka, pipeline.bootstrap, pipeline.topic("paytrace_raw"))
    return [(key, headers) for key, _, headers in found]


async def test_pushed_payment_is_one_payment_and_an_early_dispute_is_redriven(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # the poll fails from the start; the by-id export (what a sender would push) still answers
    await pipeline.control(
        "paytrace",
        "faults",
        {"error_status": 503, "error_count": 1_000_000, "error_path_prefix": POLL_PATH},
    )
    async with pipeline.paytrace() as paytrace:
        pushed = await paytrace.sale_keyed(Decimal("25.00"), VISA, 12, 2030, invoice_id="P-1")
        early = await paytrace.sale_keyed(Decimal("30.00"), VISA, 12, 2030, invoice_id="P-2")
        pushed_id, early_id = str(pushed.transaction_id), str(early.transaction_id)
        exported = await paytrace.request(
            "POST", "/v1/transactions/export/by_id", json={"transaction_id": int(pushed_id)}
        )
        body: dict[str, Any] = exported.json()["transactions"][0]
        early_body = (
            await paytrace.request(
                "POST", "/v1/transactions/export/by_id", json={"transaction_id": int(early_id)}
            )
        ).json()["transactions"][0]
    pipeline.start_worker()
    ingress = IngressProcess(pipeline.bootstrap, pipeline.name, tmp_path / "ingress.log")
    ingress.extra_env["PAYSTREAM_INGRESS_MAX_BODY_BYTES"] = "8192"
    ingress.start()
    try:
        await ingress.ready()
        async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as http:

            async def post(path: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
                return await http.post(path, content=raw, headers=headers)

            forged = await post("/v1/payments", *signed(early_body, secret="x" * 20))
            malformed = await post("/v1/payments", *signed({**early_body, "amount": "thirty"}))
            assert (forged.status_code, malformed.status_code) == (401, 422)
            accepted = await post("/v1/payments", *signed(body))
            assert accepted.status_code == 202, accepted.text
            dispute = notification(
                case_id="CB-EARLY", transaction_id=early_id, amount="30.00", stage="chargeback"
            )
            assert (await post("/v1/disputes", *signed(dispute))).status_code == 202

        async def pushed_in() -> bool:
            records = {r["PaymentID__c"] for r in await pipeline.payment_records()}
            return pushed_id in records

        await wait_for(pushed_in, "the pushed sale in Salesforce while polling fails", 90)

        async def dead_lettered() -> bool:
            reasons = [h.get("paystream-reason") for _, _, h in await pipeline.dead_letters()]
            return reasons.count(b"dispute_payment_unknown") == 2

        await wait_for(dead_lettered, "the early dispute dead-lettered by both sinks", 60)
        keys = Counter(key for key, _ in await raw_records(pipeline))
        assert keys[pushed_id.encode()] == 1 and keys[early_id.encode()] == 0  # nothing forged
        assert not {r["PaymentID__c"] for r in await pipeline.payment_records()} & {early_id}

        await pipeline.control("paytrace", "faults", {"error_count": 0})

        async def polled_too() -> bool:
            keys = Counter(key for key, _ in await raw_records(pipeline))
            records = {r["PaymentID__c"] for r in await pipeline.payment_records()}
            return keys[pushed_id.encode()] == 2 and early_id in records

        await wait_for(polled_too, "the poller publishing both sales", 90)
        raw = [h for key, h in await raw_records(pipeline) if key == pushed_id.encode()]
        assert sorted(h.get("paystream-push-source", b"") for h in raw) == [b"", b"push:paytrace"]

        env = {**pipeline.env(), "PATH": "/usr/bin:/bin"}
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stream.cli",
            "replay",
            "deadletters",
            "--reason",
            "dispute_payment_unknown",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 0, (out + err).decode()

        async def applied() -> bool:
            body = await pipeline.control("salesforce", "records/Case")
            found = [r for r in body["records"] if r.get("Dispute_Case_Id__c") == "CB-EARLY"]
            async with pipeline.sagepro() as sage:
                entry = await sage.get_journal_entry("DSP-CB-EARLY-CB")
            return len(found) == 1 and entry is not None

        await wait_for(applied, "the re-driven dispute in Salesforce and Sage Pro", 60)
        payments = await read_all(pipeline.kafka, pipeline.bootstrap, pipeline.topic("payments"))
        per_key = Counter(key for key, _, _ in payments)
        assert per_key[pushed_id.encode()] == 1  # pushed, then polled: one payment
        records = Counter(r["PaymentID__c"] for r in await pipeline.payment_records())
        assert records[pushed_id] == 1
        statuses = {r["PaymentID__c"]: r["Status__c"] for r in await pipeline.payment_records()}
        assert statuses[early_id] == "Chargeback"
        async with pipeline.sagepro() as sage:
            sage_refs = Counter(p.payment_reference for p in await sage.list_payments())
            entry = await sage.get_journal_entry("DSP-CB-EARLY-CB")
        assert sage_refs[pushed_id] == 1 and sage_refs[early_id] == 1
        assert entry is not None
        assert sum(line.debit for line in entry.lines) == sum(line.credit for line in entry.lines)
        assert "x" * 20 not in ingress.log()
    finally:
        ingress.stop()
