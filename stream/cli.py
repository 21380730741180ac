"""The `paystream` command line."""

from __future__ import annotations

import asyncio
import signal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from stream.replay_cli import replay_app
from stream.settings import KafkaSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
mapping_app = typer.Typer(no_args_is_help=True, help="Field mapping files.")
app.add_typer(mapping_app, name="mapping")
app.add_typer(replay_app, name="replay")
disputes_app = typer.Typer(no_args_is_help=True, help="Card disputes: import a report.")
app.add_typer(disputes_app, name="disputes")
config_app = typer.Typer(no_args_is_help=True, help="Settings and named environments.")
app.add_typer(config_app, name="config")


class System(StrEnum):
    paytrace = "paytrace"
    salesforce = "salesforce"
    sagepro = "sagepro"
    all = "all"


@app.command()
def worker(
    lanes: Annotated[
        str | None,
        typer.Option(
            help="the lanes to run, comma-separated (default: PAYSTREAM_WORKER_LANES, or all); "
            "a worker of some lanes is a consumer group of its own"
        ),
    ] = None,
) -> None:
    """Run one pipeline worker (settings from PAYSTREAM_*, PAYSTREAM_SECRETS_DIR or
    PAYSTREAM_CONFIG)."""
    import os

    from connectors.base.settings import SettingsProblem, require_all
    from connectors.paytrace.settings import PayTraceSettings
    from connectors.sagepro.settings import SageProSettings
    from connectors.salesforce.settings import SalesforceSettings
    from stream.settings import WorkerSettings

    if lanes is not None:  # the option wins over the setting
        os.environ["PAYSTREAM_WORKER_LANES"] = lanes
    try:
        # Before anything starts: every missing setting of every system in one line.
        built = require_all(
            KafkaSettings, WorkerSettings, PayTraceSettings, SalesforceSettings, SageProSettings
        )
    except (SettingsProblem, ValueError) as exc:  # ValueError: an unknown PAYSTREAM_ENV
        typer.echo(f"paystream: {exc}", err=True)
        raise typer.Exit(2) from None
    from connectors.base.settings import active_environment
    from stream.environments import sandbox_problems

    # A production environment never runs against the emulators' endpoints or credentials.
    refused = sandbox_problems(active_environment(), built)
    if refused:
        typer.echo(f"paystream: {'; '.join(refused)}", err=True)
        raise typer.Exit(2)
    from stream.worker import run_worker  # it refuses an unknown lane (exit 2)

    raise typer.Exit(run_worker())


@app.command()
def topology() -> None:
    """Print which agent reads and writes which topic."""
    from stream.topology import describe

    typer.echo(describe(KafkaSettings()))


@mapping_app.command("check")
def mapping_check(
    file: Path,
    against_org: Annotated[
        bool,
        typer.Option(
            "--against-org",
            help="also check fields, picklists and GL accounts against the worker's "
            "Salesforce org and Sage Pro books",
        ),
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(help="with --against-org: that environment's org and books (promotion)"),
    ] = None,
) -> None:
    """Validate a mapping file; exit 1 with the problems if it is not valid."""
    import yaml

    from stream.mapping import load_mapping
    from stream.mapping_check import offline_problems

    try:
        mapping = load_mapping(file)
    except (ValidationError, ValueError, OSError, yaml.YAMLError) as exc:
        typer.echo(f"{file}: invalid\n{exc}", err=True)
        raise typer.Exit(1) from exc
    if against_org:
        from stream.environments import environment
        from stream.mapping_check import run_against_org

        with environment(env):  # promotion: one mapping version, each environment's org
            problems = asyncio.run(run_against_org(mapping))
    else:
        problems = offline_problems(mapping)
    if problems:
        typer.echo("\n".join(f"{file}: {problem}" for problem in problems), err=True)
        raise typer.Exit(1)
    typer.echo(
        f"{file}: ok ({len(mapping.statuses)} status rules, "
        f"{len(mapping.salesforce.fields)} Salesforce fields, "
        f"{len(mapping.custom_fields)} custom fields)"
    )
    if env:
        from stream.mapping_version import mapping_version

        typer.echo(f"{file}: mapping version {mapping_version(mapping)} ok in environment {env}")


@config_app.command("show")
def config_show(
    env: Annotated[
        str | None, typer.Option(help="an environment of the config file (default: PAYSTREAM_ENV)")
    ] = None,
) -> None:
    """Print the effective settings (secrets masked); exit 1 when a worker could not start
    with them or they point a production environment at the sandbox."""
    from stream.environments import effective, render

    try:
        result = effective(env)
    except ValueError as exc:
        typer.echo(f"paystream: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo("\n".join(render(result)))
    broken = any(s.missing or s.invalid for s in result.sections)
    if broken or result.problems:
        raise typer.Exit(1)


@app.command()
def studio(
    mapping_file: Annotated[
        Path | None,
        typer.Option("--mapping", help="default: PAYSTREAM_MAPPING_FILE or the default"),
    ] = None,
    metrics: Annotated[
        list[str] | None, typer.Option(help="a worker's /metrics URL (repeat for each worker)")
    ] = None,
    env: Annotated[str | None, typer.Option(help="whose org the checks use")] = None,
    host: str = "127.0.0.1",
    port: int = 8765,
) -> None:
    """The mapping studio: topology, mapping tables, previews, org checks, edits as a diff."""
    from stream.studio.server import default_config, serve

    try:
        config = default_config(mapping_file, metrics or [], env)
        asyncio.run(serve(config, host, port))
    except (OSError, ValueError) as exc:
        typer.echo(f"paystream studio: {exc}", err=True)
        raise typer.Exit(2) from None


@mapping_app.command("templates")
def mapping_templates() -> None:
    """List the mapping templates shipped with paystream."""
    from stream.mapping_templates import templates

    for found in templates():
        typer.echo(f"{found.name:28} {found.title}\n{'':28} {found.summary}")


@mapping_app.command("new")
def mapping_new(
    file: Path,
    from_template: Annotated[str, typer.Option("--from", help="a template's name")],
    force: Annotated[bool, typer.Option(help="replace FILE if it exists")] = False,
) -> None:
    """Write a mapping file from a shipped template (see `paystream mapping templates`)."""
    from stream.mapping_templates import write

    try:
        write(from_template, file, overwrite=force)
    except (KeyError, FileExistsError) as exc:
        typer.echo(f"paystream: {exc.args[0]}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{file}: written from template {from_template}")


@mapping_app.command("diff")
def mapping_diff(old: Path, new: Path) -> None:
    """What changed between two mapping files, in words (exit 1 only if one is invalid)."""
    import yaml

    from stream.mapping import load_mapping
    from stream.mapping_diff import describe_changes
    from stream.mapping_version import mapping_version

    try:
        before, after = load_mapping(old), load_mapping(new)
    except (ValidationError, ValueError, OSError, yaml.YAMLError) as exc:
        typer.echo(f"mapping diff: invalid mapping\n{exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{old}: version {mapping_version(before)}")
    typer.echo(f"{new}: version {mapping_version(after)}")
    changes = describe_changes(before, after)
    typer.echo("\n".join(f"- {line}" for line in changes) if changes else "no changes")


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
    username: Annotated[str | None, typer.Option(help="PayTrace username")] = None,
    password: Annotated[str | None, typer.Option(help="PayTrace password")] = None,
    client_id: Annotated[str | None, typer.Option(help="Salesforce client id")] = None,
    client_secret: Annotated[str | None, typer.Option(help="Salesforce client secret")] = None,
    api_key: Annotated[str | None, typer.Option(help="Sage Pro API key")] = None,
    pubsub_port: Annotated[int, typer.Option(help="Salesforce Pub/Sub API (gRPC) port")] = 0,
    cdc_retention_hours: Annotated[
        float, typer.Option(help="Salesforce change-event retention (tests: tiny)")
    ] = 72,
) -> None:
    """Run emulators of the real APIs in the foreground and print where they are."""
    from stream import sandbox as values  # the one home of sandbox credentials
    from stream.sandbox import SYSTEMS, SandboxConfig, start_sandbox

    systems = SYSTEMS if system is System.all else (system.value,)
    config = SandboxConfig(host=host, data_dir=data_dir)
    config.paytrace.username = username or values.PAYTRACE_USERNAME
    config.paytrace.password = password or values.PAYTRACE_PASSWORD
    config.salesforce.client_id = client_id or values.SALESFORCE_CLIENT_ID
    config.salesforce.client_secret = client_secret or values.SALESFORCE_CLIENT_SECRET
    config.sagepro.api_key = api_key or values.SAGEPRO_API_KEY
    config.salesforce.change_event_retention_hours = cdc_retention_hours
    if port:
        config.ports = {name: port + index for index, name in enumerate(systems)}
    if pubsub_port:
        config.ports["salesforce_pubsub"] = pubsub_port

    async def run() -> None:
        sandbox = await start_sandbox(config, systems)
        stopping = asyncio.Event()
        # SIGTERM (docker stop, a supervisor) stops them as cleanly as Ctrl-C, also where the
        # parent left SIGINT ignored (a background job of a non-interactive shell).
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        try:
            for name, value in sandbox.worker_env().items():
                typer.echo(f"{name}={value}")
            typer.echo("# emulators running; Ctrl-C or SIGTERM stops them", err=True)
            await stopping.wait()
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


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (merchant)")],
    to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (inclusive)")],
    sink: Annotated[str, typer.Option(help="salesforce, sagepro or all")] = "all",
    dry_run: Annotated[bool, typer.Option(help="read and report, write nothing")] = False,
) -> None:
    """PayTrace exports for a date range through the pipeline (Bulk API 2.0 when large)."""
    from datetime import date

    from stream.backfill_cli import run_backfill

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    raise typer.Exit(run_backfill(first, last, sink, dry_run))


@app.command()
def ingress() -> None:
    """Signed push notifications of disputes and payment events (PAYSTREAM_INGRESS_*)."""
    from stream.dispute_cli import run_ingress

    raise typer.Exit(run_ingress())


@disputes_app.command("import")
def disputes_import(file: Path) -> None:
    """Send a dispute report (CSV) to <prefix>.disputes; exits 1 if a row was rejected."""
    from stream.dispute_cli import run_import

    raise typer.Exit(run_import(file))


def main() -> None:
    from stream import log_redaction

    log_redaction.install()  # before any command logs: no card number or secret in a line
    app(prog_name="paystream")


if __name__ == "__main__":
    main()
