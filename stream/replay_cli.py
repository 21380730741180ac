"""``paystream replay``: republish payments for a backfill, or re-drive dead letters, with
the progress bar and the summary around stream/replay.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from stream.settings import KafkaSettings

if TYPE_CHECKING:
    from stream.replay_plan import RedriveReport, ReplayReport

replay_app = typer.Typer(
    no_args_is_help=True,
    help="Republish payments for a backfill, or re-drive dead letters (workers keep running).",
)
T = TypeVar("T")


def _when(text: str | None) -> datetime | None:
    """An ISO 8601 time; without an offset it is UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _run_replay(job: Coroutine[Any, Any, T]) -> T:
    from stream.replay_plan import ReplayError

    try:
        return asyncio.run(job)
    except ReplayError as exc:
        typer.echo(f"replay: {exc}", err=True)
        raise typer.Exit(1) from exc


def _payments_summary(report: ReplayReport) -> list[str]:
    verb = "would republish" if report.dry_run else "republished"
    out = [f"replay {report.replay_id} of {report.topic} for sink {report.sink}"]
    for s in report.partitions:
        r = s.range
        extra = f", {s.unkeyed} without a key skipped" if s.unkeyed else ""
        if s.changed_during_run:
            extra += f", {len(s.changed_during_run)} changed while replaying (live is newer)"
        out.append(
            f"  partition {r.partition}: offsets [{r.start}, {r.stop}) of end {r.end}: "
            f"{s.read} read, {verb} {len(s.records())} distinct keys{extra}"
        )
    out.append(f"records read {report.read}, distinct keys {verb} {report.republished}")
    later = sum(len(s.updated_after_until) for s in report.partitions)
    if later:
        out.append(f"{later} of them changed after --until: their current state was used")
    if report.dry_run:
        out.append("dry run: nothing written")
    return out


def _redrive_summary(report: RedriveReport) -> list[str]:
    verb = "would re-drive" if report.dry_run else "re-drove"
    out = [f"dead-letter re-drive {report.replay_id}: {verb} {sum(report.redriven.values())}"]
    out += [f"  reason {reason}: {n}" for reason, n in sorted(report.redriven.items())]
    if report.duplicates:
        out.append(f"  {report.duplicates} repeated dead letters of the same record sent once")
    if report.unreadable:
        out.append(f"  {report.unreadable} records on the dead-letter topic were no dead letter")
    if report.refused:
        out.append(f"refused {sum(report.refused.values())}:")
        out += [f"  {cause}: {n}" for cause, n in sorted(report.refused.items())]
    if report.dry_run:
        out.append("dry run: nothing written")
    return out


@replay_app.command("payments")
def replay_payments(
    since: Annotated[str, typer.Option(help="ISO time: payments from here (no offset: UTC)")],
    until: Annotated[str | None, typer.Option(help="ISO time: up to here (default: now)")] = None,
    sink: Annotated[
        str,
        typer.Option(
            help="which sink acts on the replay: a payment sink's replay name in "
            "stream/topology.py (salesforce, sagepro) or all"
        ),
    ] = "all",
    dry_run: Annotated[bool, typer.Option(help="print what would be republished")] = False,
) -> None:
    """Republish the latest state of each payment in the range to the payments topic."""
    from rich.console import Console
    from rich.progress import Progress

    from stream.replay import replay_payments

    start, stop = _when(since), _when(until)
    assert start is not None  # a required option
    if stop is not None and stop <= start:
        raise typer.BadParameter("--until must be after --since")
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("reading payments", total=None)
        report = _run_replay(
            replay_payments(
                KafkaSettings(),
                since=start,
                until=stop,
                sink=sink,
                dry_run=dry_run,
                progress=lambda n: bar.advance(task, n),
                on_total=lambda n: bar.update(task, total=n),
            )
        )
    typer.echo("\n".join(_payments_summary(report)))


@replay_app.command("deadletters")
def replay_deadletters(
    reason: Annotated[str | None, typer.Option(help="only this dead-letter reason")] = None,
    agent: Annotated[str | None, typer.Option(help="only what this agent dead-lettered")] = None,
    since: Annotated[str | None, typer.Option(help="ISO time: dead-lettered from here")] = None,
    dry_run: Annotated[bool, typer.Option(help="print what would be re-driven")] = False,
) -> None:
    """Send dead-lettered records back to their source topic, after the cause is fixed.

    Exits 1 when a matching record was refused (the others are re-driven)."""
    from stream.replay import redrive_dead_letters

    report = _run_replay(
        redrive_dead_letters(
            KafkaSettings(), reason=reason, agent=agent, since=_when(since), dry_run=dry_run
        )
    )
    typer.echo("\n".join(_redrive_summary(report)))
    if report.refused:
        raise typer.Exit(1)
