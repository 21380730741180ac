"""The `paystream` command line."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from stream.settings import KafkaSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
mapping_app = typer.Typer(no_args_is_help=True, help="Field mapping files.")
app.add_typer(mapping_app, name="mapping")


class System(StrEnum):
    paytrace = "paytrace"
    salesforce = "salesforce"
    sagepro = "sagepro"
    all = "all"


@app.command()
def worker() -> None:
    """Run one pipeline worker (settings from PAYSTREAM_* or PAYSTREAM_CONFIG)."""
    from stream.worker import run_worker

    raise typer.Exit(run_worker())


@app.command()
def topology() -> None:
    """Print which agent reads and writes which topic."""
    from stream.topology import describe

    typer.echo(describe(KafkaSettings()))


@mapping_app.command("check")
def mapping_check(file: Path) -> None:
    """Validate a mapping file; exit 1 with the problems if it is not valid."""
    import yaml

    from stream.mapping import load_mapping

    try:
        mapping = load_mapping(file)
    except (ValidationError, ValueError, OSError, yaml.YAMLError) as exc:
        typer.echo(f"{file}: invalid\n{exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{file}: ok ({len(mapping.statuses)} status rules, "
        f"{len(mapping.salesforce.fields)} Salesforce fields, "
        f"{len(mapping.custom_fields)} custom fields)"
    )


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Kafka port")] = 9092,
    data_dir: Annotated[Path, typer.Option(help="where the broker keeps its state")] = Path(
        ".paystream/broker"
    ),
) -> None:
    """Run the embedded Kafka-protocol broker (noida-db) in the foreground."""
    from stream.broker import EmbeddedBroker

    async def run() -> None:
        async with EmbeddedBroker(data_dir, port=port) as running:
            typer.echo(f"kafka bootstrap: {running.bootstrap} (Ctrl-C stops it)")
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@app.command()
def emulate(
    system: Annotated[System, typer.Argument(help="which emulator")],
    port: Annotated[int, typer.Option(help="port (with 'all': the first of three)")] = 0,
    host: str = "127.0.0.1",
    data_dir: Annotated[Path | None, typer.Option(help="keep state here")] = None,
    username: Annotated[str, typer.Option(help="PayTrace username")] = "demo",
    password: Annotated[str, typer.Option(help="PayTrace password")] = "demo-password",
    client_id: Annotated[str, typer.Option(help="Salesforce client id")] = "paystream-demo",
    client_secret: Annotated[str, typer.Option(help="Salesforce client secret")] = "demo-secret",
    api_key: Annotated[str, typer.Option(help="Sage Pro API key")] = "demo-sage-key",
    pubsub_port: Annotated[int, typer.Option(help="Salesforce Pub/Sub API (gRPC) port")] = 0,
    cdc_retention_hours: Annotated[
        float, typer.Option(help="Salesforce change-event retention (tests: tiny)")
    ] = 72,
) -> None:
    """Run emulators of the real APIs in the foreground and print where they are."""
    from stream.sandbox import SYSTEMS, SandboxConfig, start_sandbox

    systems = SYSTEMS if system is System.all else (system.value,)
    config = SandboxConfig(host=host, data_dir=data_dir)
    config.paytrace.username, config.paytrace.password = username, password
    config.salesforce.client_id, config.salesforce.client_secret = client_id, client_secret
    config.sagepro.api_key = api_key
    config.salesforce.change_event_retention_hours = cdc_retention_hours
    if port:
        config.ports = {name: port + index for index, name in enumerate(systems)}
    if pubsub_port:
        config.ports["salesforce_pubsub"] = pubsub_port

    async def run() -> None:
        sandbox = await start_sandbox(config, systems)
        try:
            for name, value in sandbox.worker_env().items():
                typer.echo(f"{name}={value}")
            typer.echo("# emulators running; Ctrl-C stops them", err=True)
            await asyncio.Event().wait()
        finally:
            await sandbox.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="PayTrace transactions to drive")] = 1000,
    json_output: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    workers: Annotated[int, typer.Option(help="pipeline workers to run")] = 1,
) -> None:
    """End to end: embedded broker, emulators, real workers; prints a summary read back."""
    from stream.demo.runner import run_demo

    raise typer.Exit(run_demo(events=events, as_json=json_output, workers=workers))


def main() -> None:
    app(prog_name="paystream")


if __name__ == "__main__":
    main()
