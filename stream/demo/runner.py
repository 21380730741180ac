"""Orchestrates the demo: broker, emulators, seed data, workers, workload, convergence, summary.

Every process it starts is stopped on the way out, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.models import ExportedTransaction
from connectors.paytrace.settings import PayTraceSettings
from connectors.sagepro.client import SageProRestClient
from connectors.sagepro.settings import SageProSettings
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.settings import SalesforceSettings
from stream.broker import EmbeddedBroker
from stream.demo.api_calls import calls_by_flow, scrape
from stream.demo.collection import (
    CollectionPlan,
    CollectionResult,
    close_won,
    collection_result,
    plan_collection,
)
from stream.demo.disputes import DemoDisputes
from stream.demo.risk import inject_card_testing, risk_report
from stream.demo.seed import seed
from stream.demo.settlement import settle_and_reconcile
from stream.demo.subscriptions import DemoSubscriptions
from stream.demo.verify import Comparison, Expected, compare
from stream.demo.workload import assign_references, drive, drive_refunds, make_plan
from stream.mapping import load_mapping
from stream.sandbox import Sandbox, SandboxConfig, start_sandbox
from stream.settings import KafkaSettings
from stream.supervise import WorkerProcess
from stream.topic_names import topic_name
from stream.topics import read_all

SEED = 20261122


class Demo:
    def __init__(self, events: int, workers: int, console: Console) -> None:
        self.events = events
        self.worker_count = workers
        self.console = console
        self.workdir = Path(tempfile.mkdtemp(prefix="paystream-demo-"))
        self.broker = EmbeddedBroker(self.workdir / "broker")
        self.sandbox: Sandbox | None = None
        self.workers: list[WorkerProcess] = []
        self.rng = random.Random(SEED)
        self.mapping = load_mapping()
        self.disputes = DemoDisputes(self.workdir, self.mapping)
        self.subscriptions = DemoSubscriptions(self.workdir, months=12 if events >= 200 else 3)

    def clients(
        self, sandbox: Sandbox
    ) -> tuple[PayTraceClient, SalesforceClient, SageProRestClient]:
        env = sandbox.worker_env()
        paytrace = PayTraceClient.from_settings(
            PayTraceSettings(
                base_url=env["PAYSTREAM_PAYTRACE_BASE_URL"],
                username=env["PAYSTREAM_PAYTRACE_USERNAME"],
                password=env["PAYSTREAM_PAYTRACE_PASSWORD"],
            )
        )
        salesforce = SalesforceClient.from_settings(
            SalesforceSettings(
                login_url=env["PAYSTREAM_SALESFORCE_LOGIN_URL"],
                client_id=env["PAYSTREAM_SALESFORCE_CLIENT_ID"],
                client_secret=env["PAYSTREAM_SALESFORCE_CLIENT_SECRET"],
                call_options_client="paystream-demo-seeder",
            )
        )
        sage = SageProRestClient.from_settings(
            SageProSettings(
                base_url=env["PAYSTREAM_SAGEPRO_BASE_URL"], api_key=env["PAYSTREAM_SAGEPRO_API_KEY"]
            )
        )
        return paytrace, salesforce, sage

    def worker_env(self, sandbox: Sandbox) -> dict[str, str]:
        return {
            **sandbox.worker_env(),
            "PAYSTREAM_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "PAYSTREAM_APP_ID": "paystream-demo",
            "PAYSTREAM_POLL_INTERVAL_SECONDS": "1",
            # The demo pushes no payment events: the poll is its only path, read every second.
            "PAYSTREAM_POLL_MAX_INTERVAL_SECONDS": "1",
            "PAYSTREAM_CDC_START": "earliest",  # the demo's own seeded Orders are triggers too
            "PAYSTREAM_SETTLEMENT_POLL_INTERVAL_SECONDS": "1",
            "PAYSTREAM_SETTLEMENT_RECHECK_SECONDS": "2",
            "PAYSTREAM_LOG_LEVEL": "warning",
            **self.subscriptions.env(),  # the stepped billing clock
        }

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        await self.broker.start()
        self.sandbox = await start_sandbox(SandboxConfig())
        paytrace, salesforce, sage = self.clients(self.sandbox)
        http = httpx.AsyncClient(base_url=self.sandbox.url("salesforce"))
        try:
            plan = make_plan(self.events, self.rng)
            data = await seed(
                paytrace,
                salesforce,
                sage,
                customers=max(5, self.events // 40),
                invoice_amounts=plan.invoice_amounts(),
                rng=self.rng,
            )
            assign_references(plan, data, self.rng)
            baseline = (await http.get("/_emulator/usage")).json()["used"]
            env = self.worker_env(self.sandbox)
            for index in range(self.worker_count):
                env_i = {**env, "PAYSTREAM_DATA_DIR": str(self.workdir / f"worker-{index}")}
                log = self.workdir / f"worker-{index}.log"
                self.workers.append(WorkerProcess(env_i, log).start())
            self.disputes.start(env)
            collection = plan_collection(
                data, self.mapping.collection, self.rng, closed_won=max(2, self.events // 50)
            )
            invoices = set(data.invoices) | set(collection.expected)
            with self.progress() as progress:
                driving = progress.add_task("PayTrace transactions", total=plan.events)
                drive_started = time.monotonic()
                advance = lambda: progress.advance(driving)  # noqa: E731
                driven = await drive(paytrace, plan, self.rng, advance)
                # A small card-testing burst for the risk flows (stream/demo/risk.py).
                invoice = next(
                    (p.invoice_id for p in plan.primaries if p.kind != "unknown_invoice"), None
                )
                injected = await inject_card_testing(paytrace, invoice)
                await close_won(salesforce, collection)
                syncing = progress.add_task("synced to Salesforce + Sage Pro", total=None)
                state = await self.converge(
                    paytrace, sage, http, collection, invoices, progress, syncing
                )
                # PayTrace refunds settled sales only: the day's batch closes (and must
                # reconcile) first, then the refunds go through and settle in a second batch.
                settling = progress.add_task("settlement batches reconciled", total=2)
                settlement = await settle_and_reconcile(paytrace, sage, http, self.mapping)
                progress.update(settling, completed=settlement.reconciled)
                await drive_refunds(paytrace, driven, advance)
                state = await self.converge(
                    paytrace, sage, http, collection, invoices, progress, syncing
                )
                converged = time.monotonic()
                # Risk scores trail their payments by the action sink's batch window: wait
                # for them, so the call count below includes the risk flows' calls.
                risk = await risk_report(http, self.mapping, injected)
                used = (await http.get("/_emulator/usage")).json()["used"] - baseline
                by_flow = calls_by_flow(await scrape(w.metrics_url for w in self.workers))
                settlement = await settle_and_reconcile(paytrace, sage, http, self.mapping)
                progress.update(settling, completed=settlement.reconciled)
                # Disputes last: they change the payments' statuses checked above.
                disputing = progress.add_task("disputes applied", total=None)
                disputes = await self.disputes.run(state[0], sage, http)
                progress.update(
                    disputing, total=disputes.cases, completed=disputes.salesforce_cases
                )
                subscriptions = await self.subscriptions.run(paytrace, salesforce)
            dead = await read_all(
                KafkaSettings(), self.broker.bootstrap, topic_name(KafkaSettings(), "deadletter")
            )
        finally:
            await http.aclose()
            for client in (paytrace, salesforce, sage):
                await client.aclose()
        transactions, expected, result, charges = state
        payments = len(expected.salesforce)
        return {
            "ok": result.missing == 0
            and result.duplicates == 0
            and not dead
            and charges.ok
            and settlement.ok
            and disputes.ok
            and subscriptions.ok,
            "events": plan.events,
            "transactions": len(transactions),
            "transaction_kinds": dict(sorted(expected.kinds.items())),
            "salesforce_payments": result.salesforce_matched,
            "sagepro_payments": result.sagepro_matched,
            "sagepro_needs_review": result.sagepro_needs_review,
            "journal_entries_missing": len(result.journal_missing),
            "missing": result.missing,
            "missing_sample": result.sample(),
            "duplicates": result.duplicates,
            "dead_letters": len(dead),
            "charges_requested": charges.requested,
            "charges_charged": charges.charged,
            "charges_declined": charges.declined,
            "charges_payment_method_required": charges.payment_method_required,
            "duplicate_charges": charges.duplicate_charges,
            "charges_missing": len(charges.missing),
            "settlement_batches": settlement.settled,
            "settlements_reconciled": settlement.reconciled,
            "settlements_mismatched": settlement.mismatched,
            "settlements_unreconciled": len(settlement.unreconciled),
            "settlement_journal_duplicates": settlement.journal_duplicates,
            **disputes.summary(),
            **risk.summary(),
            **subscriptions.summary(),
            "salesforce_api_calls": used,
            "salesforce_api_calls_per_1000_payments": round(used * 1000 / max(payments, 1), 1),
            "salesforce_api_calls_by_flow": by_flow,
            "events_per_second": round(plan.events / max(converged - drive_started, 1e-9), 1),
            "seconds": round(time.monotonic() - started, 1),
            "workers": self.worker_count,
        }

    async def converge(
        self,
        paytrace: PayTraceClient,
        sage: SageProRestClient,
        http: httpx.AsyncClient,
        collection: CollectionPlan,
        invoices: set[str],
        progress: Progress,
        task: Any,
    ) -> tuple[list[ExportedTransaction], Expected, Comparison, CollectionResult]:
        """Read everything back until it matches twice in a row (or time runs out).

        The expectations are recomputed each round: charges made by the pipeline itself
        appear in PayTrace while it runs."""
        deadline = time.monotonic() + max(120.0, self.events * 0.5)
        stable = 0
        today = date.today()
        while True:
            transactions = await paytrace.export_by_date_range(
                today - timedelta(days=1), today + timedelta(days=1)
            )
            expected = Expected.of(transactions, invoices)
            records = (await http.get("/_emulator/records/Payment__c")).json()["records"]
            result = compare(
                expected, records, await sage.list_payments(), await sage.list_journal_entries()
            )
            triggered: dict[str, dict[str, Any]] = {}
            for obj in ("Opportunity", "Order"):
                rows = (await http.get(f"/_emulator/records/{obj}")).json()["records"]
                triggered |= {row["Id"]: row for row in rows}
            charges = collection_result(
                collection, self.mapping.collection, triggered, transactions
            )
            total = len(expected.salesforce) + len(expected.sagepro) + charges.requested
            done = result.salesforce_matched + result.sagepro_matched
            done += charges.requested - len(set(charges.missing))
            progress.update(task, total=total, completed=done)
            complete = result.missing == 0 and not charges.missing
            stable = stable + 1 if complete else 0
            if stable >= 2 or time.monotonic() > deadline:
                return transactions, expected, result, charges
            for worker in self.workers:
                if not worker.running():
                    raise RuntimeError(f"a worker exited:\n{worker.log_tail()}")
            await asyncio.sleep(1.0)

    def progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

    async def stop(self, keep_workdir: bool) -> None:
        for worker in self.workers:
            worker.stop()
        self.disputes.stop()
        if self.sandbox is not None:
            await self.sandbox.stop()
        self.broker.stop()
        if not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _table(summary: dict[str, Any]) -> Table:
    table = Table(title="paystream demo (read back from the emulators' APIs)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if key not in ("transaction_kinds", "missing_sample", "salesforce_api_calls_by_flow"):
            table.add_row(key, str(value))
    for flow, calls in summary["salesforce_api_calls_by_flow"].items():
        if calls:
            table.add_row(f"  Salesforce calls by {flow}", str(calls))
    for kind, count in summary["transaction_kinds"].items():
        table.add_row(f"  PayTrace {kind}", str(count))
    for gap, keys in summary["missing_sample"].items():
        table.add_row(f"  {gap}", ", ".join(keys))
    return table


def run_demo(events: int, as_json: bool, workers: int = 1) -> int:
    console = Console(stderr=as_json)
    demo = Demo(events, workers, console)
    summary: dict[str, Any] | None = None

    async def main() -> None:
        nonlocal summary
        try:
            summary = await demo.run()
        finally:
            await demo.stop(keep_workdir=summary is None or not summary["ok"])

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        console.print("interrupted: everything the demo started has been stopped")
        return 130
    except Exception as exc:
        console.print(f"demo failed: {exc}\nlogs kept in {demo.workdir}")
        return 1
    assert summary is not None
    if as_json:
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    else:
        console.print(_table(summary))
        if not summary["ok"]:
            console.print(f"[red]not converged[/red]; logs kept in {demo.workdir}")
    return 0 if summary["ok"] else 1
