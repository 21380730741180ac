"""The studio in a real browser: headless Chromium from Debian's package, driven by playwright,
against a real ``paystream studio`` process pointed at the Salesforce and Sage Pro emulators.

It clicks through the diagram, previews one sample of each kind, renames a field to a misspelled
one and sees the org check flag it, saves the edit as a diff, and screenshots each view into
``docs/`` (the README shows them). ``make test`` installs Chromium (scripts/ensure-chromium.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from stream import metrics
from stream.mapping_version import mapping_version
from stream.runtime import flow_metrics
from stream.runtime.processor import Emit
from stream.sandbox import Sandbox, SandboxConfig, start_sandbox
from stream.settings import KafkaSettings
from stream.topic_names import topic_name
from stream.topics import TopicSpec, ensure_topics
from tests.unit import flow_fakes

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs"
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright not installed")
if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed (scripts/ensure-chromium.sh installs it as root)",
        allow_module_level=True,
    )


async def published(bootstrap: str, prefix: str) -> str:
    """Two payments written the way a worker writes them (a real source's publish, real
    producer), so they carry the mapping version header; returns that version."""
    kafka = KafkaSettings(topic_prefix=prefix, partitions=2)
    await ensure_topics(kafka, bootstrap, [TopicSpec(topic_name(kafka, "payments"))])
    connectors = flow_fakes.FakeConnectors(paytrace_settings=SimpleNamespace(zone=UTC))
    ctx = flow_fakes.context(connectors)
    ctx.kafka, ctx.bootstrap = kafka, bootstrap
    source = flow_fakes.flow("paytrace_poller", ctx)
    try:
        await source.publish([Emit("payments", f"{n}".encode(), b"{}") for n in (501, 502)])
    finally:
        await source.aclose()
    return mapping_version(ctx.mapping)


@contextlib.asynccontextmanager
async def metrics_page() -> AsyncIterator[str]:
    """A /metrics page serving this process's registry the way a worker serves its own
    (stream.metrics.render), with a flow's counters moved as a worker's runtime moves them."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    flow_metrics.received("payment_normalizer", 12)
    flow_metrics.delivered("payment_normalizer", 11)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def studio(
    sandbox: Sandbox, bootstrap: str, prefix: str, metrics_url: str
) -> AsyncIterator[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_")}
    kafka_env = {"PAYSTREAM_KAFKA_BOOTSTRAP": bootstrap, "PAYSTREAM_KAFKA_TOPIC_PREFIX": prefix}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stream.cli", "studio", "--port", "0", "--metrics", metrics_url,
        env={**clean, **sandbox.worker_env(), **kafka_env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        found = re.search(r"http://\S+/", line.decode())
        assert found, line
        yield found.group(0)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def shot(page: object, view: str) -> None:
    await page.screenshot(path=str(DOCS / f"studio-{view}.png"), full_page=True)  # type: ignore[attr-defined]


async def test_studio_in_chromium(tmp_path: Path, kafka_bootstrap: str) -> None:
    prefix = f"studio{uuid.uuid4().hex[:8]}"
    version = await published(kafka_bootstrap, prefix)
    sandbox = await start_sandbox(SandboxConfig(), systems=("salesforce", "sagepro"))
    try:
        async with (
            metrics_page() as metrics_url,
            studio(sandbox, kafka_bootstrap, prefix, metrics_url) as url,
            playwright_api.async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                await click_through(page, url, tmp_path, version)
            finally:
                await browser.close()
    finally:
        await sandbox.stop()


async def click_through(page: object, url: str, tmp_path: Path, version: str) -> None:
    p = page  # playwright Page
    expect = playwright_api.expect
    await p.goto(url)  # type: ignore[attr-defined]
    await p.wait_for_selector("body[data-ready=true]", timeout=60_000)  # type: ignore[attr-defined]

    # Live figures from the /metrics page given: the normalizer's received records.
    live = p.locator("#live-payment_normalizer")  # type: ignore[attr-defined]
    await expect(live).to_contain_text(re.compile(r"in .* DL \d+"), timeout=30_000)
    # Topology: every flow is a node; a click shows what it reads and writes, edges lit.
    await p.click('#topology [data-flow="payment_normalizer"]')  # type: ignore[attr-defined]
    details = p.locator("#flow-details")  # type: ignore[attr-defined]
    await expect(details).to_contain_text("payment_normalizer [stream]")
    await expect(details).to_contain_text("payment-state")
    await expect(p.locator("#topology .edge.lit")).to_have_count(3)  # type: ignore[attr-defined]
    await p.click('#topology [data-flow="charge_agent"]')  # type: ignore[attr-defined]
    await expect(details).to_contain_text("charge-ledger")
    # A topic: its latest records and the mapping version that produced each.
    await p.click('#topology [data-topic="payments"]')  # type: ignore[attr-defined]
    records = p.locator("#records tr", has_text="this mapping")  # type: ignore[attr-defined]
    await expect(records).to_have_count(2, timeout=30_000)
    await expect(records.first).to_contain_text(version)
    # The whole diagram in the picture: a window as wide as the drawing.
    width = int(await p.get_attribute("#topology", "width"))  # type: ignore[attr-defined]
    await p.set_viewport_size({"width": width + 60, "height": 1000})  # type: ignore[attr-defined]
    await shot(p, "topology")
    await p.set_viewport_size({"width": 1400, "height": 900})  # type: ignore[attr-defined]

    # Preview: one sample of each kind, the records the flows would produce.
    await p.click('nav button[data-view="preview"]')  # type: ignore[attr-defined]
    out = p.locator("#preview-out")  # type: ignore[attr-defined]
    expected = {
        "paytrace_sale": ["Payment__c upsert", "PaymentID__c", "0065g00000AbCdEAAV", "Journal"],
        "cdc_closed_won": ["Charge command", "Opportunity:0065g00000AbCdEAAV:closed_won"],
        "dispute_chargeback": ["Salesforce Case", "DSP-CB-2024-0071-CB", "Chargeback"],
    }
    for name, texts in expected.items():
        await p.select_option("#sample", name)  # type: ignore[attr-defined]
        await p.click("#run-preview")  # type: ignore[attr-defined]
        for text in texts:
            await expect(out).to_contain_text(text)
        if name == "paytrace_sale":
            await shot(p, "preview")
    # A pasted record the normalizer would refuse: the error and where it arises.
    await p.select_option("#sample", "paytrace_sale")  # type: ignore[attr-defined]
    record = await p.input_value("#record")  # type: ignore[attr-defined]
    await p.fill("#record", record.replace('"SALE"', '"GIFT"'))  # type: ignore[attr-defined]
    await p.click("#run-preview")  # type: ignore[attr-defined]
    await expect(p.locator("#preview-error")).to_contain_text(  # type: ignore[attr-defined]
        "payment_normalizer: unknown_type"
    )

    # Mapping: rename Amount__c to a misspelled field; the org check flags it.
    await p.click('nav button[data-view="mapping"]')  # type: ignore[attr-defined]
    await p.fill('input[aria-label="Salesforce field Amount__c"]', "Ammount__c")  # type: ignore[attr-defined]
    await p.press('input[aria-label="Salesforce field Amount__c"]', "Enter")  # type: ignore[attr-defined]
    await p.wait_for_selector('tr[data-field="Ammount__c"]')  # type: ignore[attr-defined]
    await expect(p.locator("#version")).to_have_class(re.compile("changed"))  # type: ignore[attr-defined]
    await p.click('nav button[data-view="checks"]')  # type: ignore[attr-defined]
    await p.click("#run-checks")  # type: ignore[attr-defined]
    problem = p.locator("#problems li", has_text="Ammount__c")  # type: ignore[attr-defined]
    await expect(problem).to_contain_text(
        "salesforce.fields.Ammount__c: field Payment__c.Ammount__c does not exist",
        timeout=60_000,
    )
    flagged = p.locator("#field-checks tr.flagged")  # type: ignore[attr-defined]
    await expect(flagged).to_contain_text("Payment__c.Ammount__c")
    await shot(p, "checks")
    await p.click('nav button[data-view="mapping"]')  # type: ignore[attr-defined]
    await expect(p.locator('tr[data-field="Ammount__c"]')).to_have_class("flagged")  # type: ignore[attr-defined]
    await shot(p, "mapping")

    # Edit & diff: the change in words and as a patch, saved by the browser.
    await p.click('nav button[data-view="edit"]')  # type: ignore[attr-defined]
    await expect(p.locator("#changes")).to_contain_text(
        "Salesforce field Amount__c renamed to Ammount__c"
    )  # type: ignore[attr-defined]
    async with p.expect_download() as waiting:  # type: ignore[attr-defined]
        await p.click("#save-diff")  # type: ignore[attr-defined]
    download = await waiting.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    patch = saved.read_text()
    assert "-    Amount__c: amount" in patch
    assert "+    Ammount__c: amount" in patch
    assert patch.startswith("--- a/stream/default_mapping.yaml")
    await shot(p, "edit")
