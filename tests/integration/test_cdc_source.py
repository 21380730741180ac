"""The Salesforce CDC source across restarts and past retention, on the real broker, with
Change Data Capture over real gRPC: every change event reaches the CDC topic exactly once
across a restart, and a stored replay id past retention is replaced by a resync that still
charges what changed during the gap, once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from schemas.collection import ChargeCommand, SalesforceChange
from stream.topics import read_all
from tests.integration.harness import EmulatorProcess, Pipeline, wait_for
from tests.integration.test_collection_e2e import (
    close_won,
    field_is,
    open_opportunity,
    paytrace_sales,
    setup_account,
)

pytestmark = pytest.mark.integration

CHANGES = 30  # Opportunity/Order changes made by the script
STOP_AFTER = 12  # the first worker is stopped once this many are made
UP_AGAIN_AFTER = 22  # the second worker starts once this many are made
RETENTION_HOURS = 0.002  # 7.2 s of change events kept by the emulated event bus


def replay_number(replay_hex: str) -> int:
    """The emulator's replay id: a big-endian 64-bit position then two bytes."""
    return int.from_bytes(bytes.fromhex(replay_hex)[:8], "big")


async def cdc_changes(pipeline: Pipeline) -> list[SalesforceChange]:
    records = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("salesforce_cdc"), idle_ms=300
    )
    return [SalesforceChange.model_validate_json(v) for _, v, _ in records if v is not None]


async def command_keys(pipeline: Pipeline) -> list[str]:
    records = await read_all(
        pipeline.kafka, pipeline.bootstrap, pipeline.topic("charge_commands"), idle_ms=300
    )
    return [ChargeCommand.model_validate_json(v).key for _, v, _ in records if v is not None]


async def change_log(pipeline: Pipeline) -> dict[int, dict[str, Any]]:
    """Every retained Opportunity/Order change event the emulated org holds, by replay id."""
    events: dict[int, dict[str, Any]] = {}
    for entity in ("Opportunity", "Order"):
        body = await pipeline.control("salesforce", f"change_events?entity={entity}&limit=5000")
        events |= {int(e["replayId"]): e for e in body["events"]}
    return events


async def paid(pipeline: Pipeline, obj: str, record: str) -> bool:
    return await field_is(pipeline, obj, record, "PaymentStatus__c", "Paid")


async def test_subscriber_restarted_mid_stream_loses_and_repeats_nothing(
    pipeline: Pipeline,
) -> None:
    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    first = pipeline.start_worker()
    account = await setup_account(pipeline, "VAULT-STREAM")
    opportunities = [await open_opportunity(pipeline, account, f"{20 + n}.00") for n in range(5)]
    await wait_for(
        lambda: _published_at_least(pipeline, len(opportunities)), "the worker following", 60
    )

    orders: list[str] = []
    closed: list[str] = []

    async def make_change(index: int) -> None:
        async with pipeline.salesforce() as salesforce:
            if index % 6 == 5:
                orders.append(
                    await salesforce.create(
                        "Order",
                        {
                            "AccountId": account,
                            "EffectiveDate": date.today().isoformat(),
                            "Status": "Draft",
                            "Amount__c": f"{40 + index}.50",
                        },
                    )
                )
            elif index % 6 == 2:
                closed.append(opportunities[len(closed)])
                await salesforce.update("Opportunity", closed[-1], {"StageName": "Closed Won"})
            else:
                target = opportunities[index % len(opportunities)]
                await salesforce.update("Opportunity", target, {"Description": f"edit {index}"})

    second = None
    for index in range(CHANGES):
        await make_change(index)
        if index + 1 == STOP_AFTER:
            # SIGTERM while changes keep coming: the script goes on during the shutdown.
            stopping = asyncio.create_task(asyncio.to_thread(first.stop))
        if index + 1 == UP_AGAIN_AFTER:
            await stopping
            second = pipeline.start_worker()
        await asyncio.sleep(0.1)
    assert second is not None and not first.running()
    assert len(closed) == 5 and len(orders) == 5

    async def cdc_caught_up() -> bool:
        published = {replay_number(c.replay_id) for c in await cdc_changes(pipeline)}
        return set(await change_log(pipeline)) <= published

    await wait_for(cdc_caught_up, "the script's change events on the CDC topic", 120)

    async def all_paid() -> bool:
        opportunities_paid = [await paid(pipeline, "Opportunity", r) for r in closed]
        return all(opportunities_paid) and all([await paid(pipeline, "Order", r) for r in orders])

    try:
        await wait_for(all_paid, "every closed deal and new order Paid", 120)
    except AssertionError as exc:  # say where each unpaid record stopped
        raise AssertionError(f"{exc}\n{await _where_unpaid(pipeline, closed, orders)}") from None
    await wait_for(cdc_caught_up, "our write-backs' change events on the CDC topic", 120)
    await asyncio.sleep(3)  # room for a late duplicate, were there one

    changes = [c for c in await cdc_changes(pipeline) if c.source == "cdc"]
    log = await change_log(pipeline)
    by_replay = Counter(replay_number(c.replay_id) for c in changes)
    assert set(by_replay) == set(log), "the CDC topic and the org's change log differ"
    assert [r for r, n in by_replay.items() if n > 1] == [], "change events published twice"
    assert len({c.event_id for c in changes}) == len(changes)
    assert len(log) >= 5 + CHANGES  # the creates, the script, and our write-backs
    for change in changes:
        header = log[replay_number(change.replay_id)]["event"]["ChangeEventHeader"]
        assert change.record_ids == header["recordIds"]
        assert change.change_type == header["changeType"]

    expected = {f"Opportunity:{r}:closed_won" for r in closed}
    expected |= {f"Order:{r}:order_created" for r in orders}
    keys = Counter(await command_keys(pipeline))
    assert set(keys) == expected
    assert all(n == 1 for n in keys.values()), f"commands repeated: {keys}"
    for record in closed + orders:
        assert len(await paytrace_sales(pipeline, record)) == 1, record
    assert not await pipeline.dead_letters()


async def _where_unpaid(pipeline: Pipeline, closed: list[str], orders: list[str]) -> str:
    """For a failure: per unpaid record, its commands and sales; dead letters; the workers'
    warnings."""
    commands = Counter(await command_keys(pipeline))
    lines = []
    for obj, records in (("Opportunity", closed), ("Order", orders)):
        for record in records:
            if not await paid(pipeline, obj, record):
                keys = {k: n for k, n in commands.items() if record in k}
                sales = len(await paytrace_sales(pipeline, record))
                lines.append(f"unpaid {obj} {record}: commands {keys}, PayTrace sales {sales}")
    lines += [f"dead letter: {str(d)[:400]}" for d in await pipeline.dead_letters()]
    for worker in pipeline.workers:
        warnings = [
            line
            for line in worker.log_path.read_text(errors="replace").splitlines()
            if "[WARNING]" in line or "[ERROR]" in line or "[CRITICAL]" in line
        ]
        lines += [f"{worker.log_path.name}: {line[:300]}" for line in warnings[-15:]]
    return "\n".join(lines)


async def _published_at_least(pipeline: Pipeline, count: int) -> bool:
    return len(await cdc_changes(pipeline)) >= count


async def test_replay_id_past_retention_resyncs_and_charges_the_gap_once(
    pipeline: Pipeline,
) -> None:
    # An org whose event bus keeps change events for seconds, not 72 hours.
    pipeline.emulators["salesforce"].stop()
    short = EmulatorProcess("salesforce", cdc_retention_hours=RETENTION_HOURS)
    short.start(pipeline.workdir / "salesforce-short-retention.log")
    pipeline.emulators["salesforce"] = short
    await wait_for(_salesforce_answers(pipeline), "the short-retention Salesforce emulator")

    pipeline.extra_env["PAYSTREAM_CDC_START"] = "earliest"
    first = pipeline.start_worker()
    account = await setup_account(pipeline, "VAULT-GAP")
    before = ""

    async def before_published() -> bool:
        # A new deal each look: on a loaded machine the worker may subscribe only after an
        # earlier deal's events aged out of this short-retention bus.
        nonlocal before
        if before and any(c.record_ids == [before] for c in await cdc_changes(pipeline)):
            return True
        before = await open_opportunity(pipeline, account, "15.00")
        return False

    half_retention = RETENTION_HOURS * 3600 / 2
    await wait_for(before_published, "a change published before the gap", 180, half_retention)
    await asyncio.sleep(1)  # its replay id stored
    first.stop()

    # The gap: a deal closes while no worker is following, and its events age out.
    gap = await open_opportunity(pipeline, account, "777.00")
    await close_won(pipeline, gap)
    await asyncio.sleep(RETENTION_HOURS * 3600 + 1.5)  # the gap's events age out
    second = pipeline.start_worker()

    await wait_for(lambda: paid(pipeline, "Opportunity", gap), "the gap's deal Paid", 120)
    log_text = second.log_path.read_text()
    assert "past retention" in log_text and "resync" in log_text
    resynced = [c for c in await cdc_changes(pipeline) if c.source == "resync"]
    gap_records = [c for c in resynced if c.record_ids == [gap]]
    assert gap_records and gap_records[0].change_type == "RESYNC"
    assert gap_records[0].values.get("StageName") == "Closed Won"
    # The gap's own CDC events never reached the topic: only the resync carried the deal.
    assert not [
        c
        for c in await cdc_changes(pipeline)
        if c.source == "cdc"
        and c.record_ids == [gap]
        and c.change_type in ("CREATE", "UPDATE")
        and "StageName" in c.changed_fields
    ]

    await asyncio.sleep(4)  # room for a second charge, were there one
    sales = await paytrace_sales(pipeline, gap)
    assert len(sales) == 1 and sales[0].amount == Decimal("777.00")
    async with pipeline.salesforce() as salesforce:
        record = await salesforce.get("Opportunity", gap)
    assert record is not None and record["PaymentTransactionID__c"] == str(sales[0].transaction_id)
    assert await paytrace_sales(pipeline, before) == []  # never closed: never charged
    # The resync queries twice (before subscribing again and once the subscription is open),
    # so the gap's command may come twice: one key, and the ledger lets it charge once.
    assert set(await command_keys(pipeline)) == {f"Opportunity:{gap}:closed_won"}
    assert not await pipeline.dead_letters()


def _salesforce_answers(pipeline: Pipeline) -> Any:
    async def check() -> bool:
        try:
            await pipeline.control("salesforce", "usage")
        except Exception:
            return False
        return True

    return check
