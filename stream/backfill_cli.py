"""``paystream backfill``: settings, the progress bar and the summary around stream/backfill.py."""

from __future__ import annotations

import asyncio
from datetime import date

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from connectors.base.errors import ConnectorError
from connectors.paytrace.client import PayTraceClient
from connectors.paytrace.settings import PayTraceSettings
from connectors.salesforce.bulk import BulkJobFailed
from connectors.salesforce.client import SalesforceClient
from stream.backfill import Backfill
from stream.backfill_plan import BackfillSettings, day_chunks
from stream.mapping import load_mapping
from stream.replay_plan import ReplayError
from stream.settings import KafkaSettings, WorkerSettings


def run_backfill(first: date, last: date, sink: str, dry_run: bool) -> int:
    """0: done; 1: the run failed midway (re-run it: it is idempotent); 2: bad settings."""
    try:
        settings = BackfillSettings()
        paytrace = PayTraceSettings()
        mapping = load_mapping(WorkerSettings().mapping_file)
        chunks = len(day_chunks(first, last, settings.chunk_days))
    except (ValidationError, ValueError, OSError) as exc:
        typer.echo(f"backfill: invalid settings or range: {exc}", err=True)
        return 2

    async def run() -> list[str]:
        async with PayTraceClient.from_settings(paytrace) as client:
            job = Backfill(
                KafkaSettings(),
                settings,
                mapping,
                client,
                SalesforceClient.from_settings,
                paytrace.timezone,
            )
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            ) as bar:
                task = bar.add_task("PayTrace export (chunks)", total=chunks)

                def progress(done: int, payments: int) -> None:
                    bar.update(task, completed=done, description=f"{payments} payments read")

                report = await job.run(first, last, sink, dry_run=dry_run, progress=progress)
        return report.lines()

    try:
        lines = asyncio.run(run())
    except (ConnectorError, BulkJobFailed, ReplayError, OSError) as exc:
        typer.echo(f"backfill: {exc}", err=True)
        return 1
    typer.echo("\n".join(lines))
    return 0
