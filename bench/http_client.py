"""``http_client``: CPU per HTTP call of httpx on ``AiohttpTransport`` against httpx's default
transport (httpcore + h11 + anyio), the two ways ``connectors/base/http.py`` could send.

Both sides are an ``httpx.AsyncClient`` posting Sage Pro payments (``POST /api/payments``, the
JSON ``SageProRestClient.post_payment`` sends, a new PaymentReference each call) to the Sage
Pro emulator, ``CONCURRENCY`` calls in flight. The emulator runs as a process of its own
(``paystream emulate sagepro``), so the CPU measured (``time.process_time``) is this process's
only: the client's. Sides take turns in chunks of ``CHUNK`` calls, the order alternating.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import orjson

from bench.result import BenchResult, Metric, Sample, timed
from bench.worker_rig import Emulator, wait_for
from connectors.base.aiohttp_transport import AiohttpTransport
from connectors.sagepro.client import API_KEY_HEADER
from connectors.sagepro.models import Customer, Payment
from stream import sandbox

NAME = "http_client"
DEFAULT_RECORDS = 4_000  # calls per side per repetition
CONCURRENCY = 8
CHUNK = 400
CUSTOMER = "BENCH-HTTP"
TIMEOUT = 15.0  # SageProSettings' default


def payment(side: str, rep: int, index: int) -> bytes:
    """A Sage Pro payment as the sink posts one (an on-account sale of a PayTrace charge)."""
    reference = f"{side}-{rep}-{index:07d}"
    record = Payment(
        payment_reference=reference,
        payment_date=date(2026, 11, 20),
        amount=Decimal("1249.95") + index % 100,
        customer_id=CUSTOMER,
        gl_account_id="1010",
        payment_method_code="CC",
        on_account=True,
        memo=f"PayTrace SALE {reference}",
    )
    # Encoded once, outside the timed runs: the sides differ in the transport only.
    return orjson.dumps(record.wire())


def _client(url: str, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    headers = {API_KEY_HEADER: sandbox.SAGEPRO_API_KEY, "Content-Type": "application/json"}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=TIMEOUT, transport=transport)


async def _send(http: httpx.AsyncClient, bodies: list[bytes]) -> None:
    queue = iter(bodies)

    async def lane() -> None:
        for body in queue:
            response = await http.post("/api/payments", content=body)
            if response.status_code != 201:
                raise RuntimeError(f"payment refused: {response.status_code} {response.text}")

    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))


async def one_run(
    clients: dict[str, httpx.AsyncClient], calls: int, rep: int
) -> tuple[Sample, Sample]:
    """(subject, baseline), taking turns per ``CHUNK`` calls so load changes hit both alike."""
    samples = {"subject": Sample(calls), "baseline": Sample(calls)}
    bodies = {side: [payment(side, rep, i) for i in range(calls)] for side in samples}
    for turn, start in enumerate(range(0, calls, CHUNK)):
        order = ["subject", "baseline"][:: -1 if (turn + rep) % 2 else 1]
        for side in order:
            with timed(samples[side]):
                await _send(clients[side], bodies[side][start : start + CHUNK])
    return samples["subject"], samples["baseline"]


async def run_http_client(records: int = DEFAULT_RECORDS, repeats: int = 3) -> BenchResult:
    subject: list[Sample] = []
    baseline: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        emulator = Emulator("sagepro", Path(tmp) / "sagepro.log")
        try:
            async with (
                _client(emulator.url, AiohttpTransport()) as ours,
                _client(emulator.url, None) as default,
            ):
                await wait_for(lambda: _answers(default), "sagepro emulator up", within=60)
                customer = Customer(customer_id=CUSTOMER, name="Bench Co").wire()
                (await default.post("/api/customers", json=customer)).raise_for_status()
                clients = {"subject": ours, "baseline": default}
                # Connections opened and code paths warm on both sides before anything is timed.
                for side, http in clients.items():
                    await _send(http, [payment(side, -1, i) for i in range(2 * CONCURRENCY)])
                for rep in range(repeats):
                    subject_run, baseline_run = await one_run(clients, records, rep)
                    subject.append(subject_run)
                    baseline.append(baseline_run)
        finally:
            emulator.stop()
    return BenchResult(
        name=NAME,
        subject=f"httpx.AsyncClient on AiohttpTransport, {CONCURRENCY} concurrent payment POSTs",
        baseline="httpx.AsyncClient on its default transport (httpcore + h11 + anyio)",
        records=records,
        repeats=repeats,
        metrics=[
            Metric.of_sides(
                "cpu",
                "CPU us/call",
                subject,
                baseline,
                lambda s: s.cpu_us_per_record,
                higher_is_better=False,
            ),
            Metric.of_sides("throughput", "calls/s", subject, baseline, lambda s: s.rate),
        ],
        notes={"concurrency": CONCURRENCY, "chunk": CHUNK, "server": "sagepro emulator process"},
    )


async def _answers(http: httpx.AsyncClient) -> bool:
    try:
        await http.get("/_emulator/health", timeout=1.0)
    except httpx.HTTPError:
        return False
    return True
