"""The bodies of `paystream ingress` and `paystream disputes import` (stream/cli.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from stream.dispute_intake import BrokerUnavailable, DisputePublisher
from stream.settings import KafkaSettings


def _bootstrap(kafka: KafkaSettings) -> str:
    if not kafka.bootstrap:
        typer.echo("paystream: missing settings: PAYSTREAM_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)
    return kafka.bootstrap


def run_ingress() -> int:
    from stream.ingress import IngressSettings, serve
    from stream.ingress_payments import PaymentDoor

    try:
        settings = IngressSettings()
    except ValidationError as exc:  # names the setting, never its value
        fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors()})
        typer.echo(f"paystream: invalid settings: PAYSTREAM_INGRESS_{', '.join(fields)}", err=True)
        return 2
    try:  # pushed payments are checked with the workers' time zone and mapping
        payments = PaymentDoor.from_settings()
    except (ValidationError, ValueError, OSError) as exc:
        typer.echo(f"paystream: invalid settings for pushed payments: {exc}", err=True)
        return 2
    if not settings.secrets:
        typer.echo("paystream: missing settings: PAYSTREAM_INGRESS_SECRETS", err=True)
        return 2
    kafka = KafkaSettings()
    try:
        asyncio.run(serve(settings, kafka, _bootstrap(kafka), payments))
    except KeyboardInterrupt:
        pass
    return 0


def run_import(path: Path) -> int:
    """0: every row sent; 1: some rows rejected (the rest sent); 2: the file refused;
    3: the broker stopped answering (re-import: it is idempotent)."""
    from stream.disputes_import import FileRefused, read_report, send_report

    console = Console(stderr=True)
    try:
        report = read_report(path)
    except (FileRefused, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"disputes import: {exc}", err=True)
        return 2
    kafka = KafkaSettings()
    bootstrap = _bootstrap(kafka)

    async def send() -> None:
        publisher = DisputePublisher(kafka, bootstrap)  # in the loop: aiokafka wants one
        await publisher.start()
        try:
            with Progress(
                TextColumn("disputes"), BarColumn(), MofNCompleteColumn(), console=console
            ) as progress:
                task = progress.add_task("send", total=len(report.accepted))
                await send_report(report, publisher, lambda: progress.advance(task))
        finally:
            await publisher.stop()

    try:
        asyncio.run(send())
    except BrokerUnavailable:
        typer.echo("\n".join(report.lines()), err=False)
        typer.echo("disputes import: the broker did not acknowledge; import again", err=True)
        return 3
    typer.echo("\n".join(report.lines()))
    return 1 if report.rejected else 0
