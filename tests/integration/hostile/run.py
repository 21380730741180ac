"""Running the battery: emulators that keep their stores on disk, producing, reading back."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from tests.integration.harness import EmulatorProcess, Pipeline, _answers, wait_for
from tests.integration.hostile.records import Hostile

VAULT_CARD = "6011000990139424"  # the one full card number a store may hold: PayTrace's vault
CRASH = re.compile(
    r"Crashed reason=|Task exception was never retrieved|RecursionError|"
    r"Agent \S+ crashed|Traceback \(most recent call last\)"
)


@dataclass
class StoredEmulator(EmulatorProcess):
    data_dir: Path | None = None

    def _system_options(self) -> list[str]:
        return [*super()._system_options(), "--data-dir", str(self.data_dir)]


async def start_stored_emulators(pipeline: Pipeline) -> Path:
    root = pipeline.workdir / "emulator-data"
    for system in ("paytrace", "salesforce", "sagepro"):
        stored = StoredEmulator(system, data_dir=root)
        stored.start(pipeline.workdir / f"{system}.log")
        pipeline.emulators[system] = stored
    async with httpx.AsyncClient() as http:
        for emulator in pipeline.emulators.values():
            url = emulator.url
            await wait_for(lambda u=url: _answers(http, u), f"{emulator.system} up")  # type: ignore[misc]
    return root


@dataclass
class Targets:
    prospecting: str  # an Opportunity still Prospecting, its Account with a vaulted card
    missing: str  # a well-formed Opportunity id that does not exist


async def set_up_collection(pipeline: Pipeline) -> Targets:
    async with pipeline.salesforce() as salesforce:
        account = await salesforce.create(
            "Account", {"Name": "Hostile Co", "CustomerVaultID__c": "HOSTILE-VAULT"}
        )
        opportunity = await salesforce.create(
            "Opportunity",
            {
                "Name": "Still prospecting",
                "AccountId": account,
                "StageName": "Prospecting",
                "CloseDate": date.today().isoformat(),
                "Amount": 123.0,
            },
        )
    async with pipeline.paytrace() as paytrace:
        await paytrace.create_customer("HOSTILE-VAULT", VAULT_CARD, 12, date.today().year + 2)
    return Targets(prospecting=opportunity, missing="006" + "0" * 12 + "ZZZ")


async def topics_exist(pipeline: Pipeline, logical: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        names = {pipeline.topic(t) for t in logical}

        async def ready() -> bool:
            return names <= (await producer.client.fetch_all_metadata()).topics()

        await wait_for(ready, "the workers created their topics", 90)
    finally:
        await producer.stop()


async def produce(pipeline: Pipeline, records: list[Hostile]) -> list[str]:
    """Sends every record in order; fills in partition and offset. Returns send failures."""
    producer = AIOKafkaProducer(
        bootstrap_servers=pipeline.bootstrap,
        max_request_size=8 * 1024 * 1024,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    failures: list[str] = []
    try:
        futures = []
        for h in records:
            futures.append(
                await producer.send(
                    pipeline.topic(h.topic), key=h.key, value=h.value, headers=h.headers or None
                )
            )
        for h, future in zip(records, futures, strict=True):
            try:
                meta = await future
            except Exception as exc:
                failures.append(f"{h.topic} {h.cls}: {exc!r}")
                continue
            h.partition, h.offset = meta.partition, meta.offset
    finally:
        await producer.stop()
    return failures


async def read_topic(bootstrap: str, name: str, idle: float = 1.0) -> list[Any]:
    """Every record of ``name`` (key, value, headers, partition, offset), large ones too."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    out: list[Any] = []
    try:
        partitions = consumer.partitions_for_topic(name) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(name) or set()
        tps = [TopicPartition(name, p) for p in partitions]
        if not tps:
            return out
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=int(idle * 1000))
            for messages in batch.values():
                out.extend(
                    (m.key, m.value, dict(m.headers or []), m.partition, m.offset) for m in messages
                )
    finally:
        await consumer.stop()
    return out


async def requests_of(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        response = await http.get(f"{url}/_emulator/requests")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def crash_lines(log: Path) -> list[str]:
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    return [line[:300] for line in lines if CRASH.search(line)]


async def wait_quietly(check: Any, timeout: float, every: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False
