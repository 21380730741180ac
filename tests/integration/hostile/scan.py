"""Where card numbers could have landed: every topic, log, broker file, emulator store, URL."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka.record.memory_records import MemoryRecords

from stream.pci import find_card_numbers as project_scanner  # what an auditor would run
from tests.integration.hostile.cards import files_under, find_card_numbers, masked


def cards_in(data: bytes | str) -> list[str]:
    found = list(find_card_numbers(data))
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    # Read by the same brand rule as ours (hostile/cards.py): a store's own epoch-millisecond
    # times pass Luhn one in ten and start with 1, never a card's.
    found += [n for n in project_scanner(text) if n[:1] in "23456"]
    return sorted({"".join(c for c in n if c.isdigit()) for n in found})


class Findings:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, where: str, data: bytes | str | None) -> None:
        if data:
            for number in cards_in(data):
                self.items.append(f"{where}: {masked(number)}")


def scan_records(
    findings: Findings, topic: str, records: list[Any], ours: set[tuple[int, int]]
) -> None:
    """``ours``: (partition, offset) of the hostile input itself, which is not the pipeline's."""
    for index, (key, value, headers, partition, offset) in enumerate(records):
        if (partition, offset) in ours:
            continue
        findings.check(f"topic {topic} #{index} key", key)
        findings.check(f"topic {topic} #{index} value", value)
        for name, header in (headers or {}).items():
            findings.check(f"topic {topic} #{index} header {name}", header)


def scan_broker_file(
    findings: Findings, data_dir: Path, prefix: str, ours: set[tuple[str, int, int]]
) -> int:
    """Records of our topics as the broker saved them (noida-db: one JSON state file).

    Returns how many record batches were read."""
    batches = 0
    for path in data_dir.glob("*.json"):
        state = orjson.loads(path.read_bytes())
        for name, topic in state.get("topics", []):
            if not str(name).startswith(prefix):
                continue
            for number, partition in topic.get("partitions", []):
                for _, raw in partition.get("record_batches", []):
                    batches += 1
                    records = MemoryRecords(bytes(raw))
                    while records.has_next():
                        batch = records.next_batch()
                        for record in batch:
                            if (name, number, record.offset) in ours:
                                continue
                            where = f"broker file {path.name} topic {name}"
                            findings.check(where + " key", record.key)
                            findings.check(where + " value", record.value)
                            for header, hvalue in record.headers:
                                findings.check(where + f" header {header}", hvalue)
    return batches


def sqlite_cells(path: Path) -> list[bytes]:
    """Every text and blob cell of a SQLite database, its WAL applied (on a copy).

    Scanning the file's bytes would join neighbouring columns into false digit runs."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        for suffix in ("", "-wal"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                shutil.copyfile(source, copy.with_name(copy.name + suffix))
        db = sqlite3.connect(copy)
        try:
            cells: list[bytes] = []
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                for row in db.execute(f'SELECT * FROM "{table}"'):
                    for cell in row:
                        if isinstance(cell, str):
                            cells.append(cell.encode("utf-8", "surrogatepass"))
                        elif isinstance(cell, bytes):
                            cells.append(cell)
            return cells
        finally:
            db.close()


def _contents(path: Path) -> list[bytes]:
    if path.name.endswith(("-wal", "-shm", "-journal")):
        return []  # read with their database
    data = path.read_bytes()
    if data.startswith(b"SQLite format 3"):
        return sqlite_cells(path)
    return [data]


def scan_files(findings: Findings, roots: list[Path], allowed: dict[str, set[str]]) -> int:
    """Every file under ``roots``; ``allowed`` maps a file name to numbers it may hold."""
    files = files_under(*roots)
    for path in files:
        numbers = [n for part in _contents(path) for n in cards_in(part)]
        for number in numbers:
            if number not in allowed.get(path.name, set()):
                findings.items.append(f"file {path}: {masked(number)}")
    return len(files)


async def scan_emulator_views(findings: Findings, urls: dict[str, str]) -> None:
    """What the emulators hold, as their control endpoints show it."""
    async with httpx.AsyncClient(timeout=60) as http:
        for sobject in ("Payment__c", "Task", "Case", "Opportunity", "Order", "Settlement__c"):
            response = await http.get(f"{urls['salesforce']}/_emulator/records/{sobject}")
            findings.check(f"Salesforce {sobject}", response.content)
        response = await http.get(f"{urls['sagepro']}/_emulator/state")
        findings.check("Sage Pro state", response.content)
